//! Darknet `.weights` files on disk; the bytes are [`nn::weights`]'s.

use std::path::Path;

use nn::Network;
use nn::weights::{WeightsError, WeightsHeader, read_weights, weights_bytes};

use crate::fs::{AtomicOptions, Durability, write_atomic};

/// Writes [`weights_bytes`] to `path` atomically (a temporary file, fsync,
/// rename: a crash never leaves a half-written file under the final name).
pub fn save_weights(net: &Network, path: &Path) -> Result<(), WeightsError> {
    let opts = AtomicOptions {
        mode: 0o644,
        overwrite: true,
        durability: Durability::Full,
    };
    write_atomic(path, &weights_bytes(net), opts).map_err(|e| WeightsError::Io {
        path: path.to_path_buf(),
        source: match e {
            seal::SealError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        },
    })
}

/// Reads `path` and loads it with [`read_weights`].
pub fn load_weights(net: &mut Network, path: &Path) -> Result<WeightsHeader, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_weights(net, &bytes, &path.display().to_string())
}
