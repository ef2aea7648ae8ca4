//! Darknet `.weights` files: header `int32 major, minor, revision`, then `seen`
//! as u64 when `major*10 + minor >= 2` (else u32), then per layer, little-endian
//! f32: convolutional: biases, [scales, rolling mean, rolling variance], weights;
//! connected: biases, weights, [scales, rolling mean, rolling variance]
//! (bracketed parts when batch-normalised). Other layers hold nothing.

use std::path::PathBuf;

use crate::layers::Kind;
use crate::network::Network;

/// Version written by [`weights_bytes`]: 0.2.0 (u64 `seen`).
pub const WRITE_VERSION: (i32, i32, i32) = (0, 2, 0);

/// Errors reading or writing `.weights`.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends before all the model's buffers were read.
    #[error("{origin}: truncated: {what} needs bytes up to offset {needed}, the file has {len}")]
    Truncated {
        /// The file.
        origin: String,
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// The file holds more than the model's buffers: it belongs to another model.
    #[error(
        "{origin}: {extra} bytes after the last layer: the file does not match this model (expected {expected} bytes)"
    )]
    TrailingBytes {
        /// The file.
        origin: String,
        /// Bytes expected.
        expected: usize,
        /// Bytes left over.
        extra: usize,
    },
    /// A header Darknet marks as transposed (major or minor > 1000): unsupported.
    #[error(
        "{origin}: version {major}.{minor} stores transposed connected weights, which is not supported"
    )]
    Transposed {
        /// The file.
        origin: String,
        /// Major version.
        major: i32,
        /// Minor version.
        minor: i32,
    },
}

/// The header of a `.weights` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsHeader {
    /// Major version.
    pub major: i32,
    /// Minor version.
    pub minor: i32,
    /// Revision.
    pub revision: i32,
    /// Images seen by the training that produced the file.
    pub seen: u64,
}

fn layer_buffers(net: &Network) -> Vec<(String, &[f32])> {
    let mut out = Vec::new();
    for (i, l) in net.layers().iter().enumerate() {
        let Some(p) = l.params() else { continue };
        let name = |b: &str| format!("layer {i} ({}) {b}", l.spec.config.kind());
        let bn = p.bn.as_ref().map(|bn| {
            [
                (name("scales"), &bn.scales[..]),
                (name("rolling mean"), &bn.rolling_mean[..]),
                (name("rolling variance"), &bn.rolling_variance[..]),
            ]
        });
        out.push((name("biases"), &p.biases[..]));
        match l.kind {
            Kind::Conv(_) => {
                out.extend(bn.into_iter().flatten());
                out.push((name("weights"), &p.weights[..]));
            }
            _ => {
                out.push((name("weights"), &p.weights[..]));
                out.extend(bn.into_iter().flatten());
            }
        }
    }
    out
}

/// Serialises the model's weights in Darknet's format (version 0.2.0).
pub fn weights_bytes(net: &Network) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [WRITE_VERSION.0, WRITE_VERSION.1, WRITE_VERSION.2] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&net.seen().to_le_bytes());
    for (_, buf) in layer_buffers(net) {
        for x in buf {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Loads Darknet weights from `bytes` into `net` (all buffers, and `seen` from
/// the header, as Darknet does). `origin` names the file in errors. On error
/// the network is left unchanged.
pub fn read_weights(
    net: &mut Network,
    bytes: &[u8],
    origin: &str,
) -> Result<WeightsHeader, WeightsError> {
    let trunc = |what: &str, needed: usize| WeightsError::Truncated {
        origin: origin.to_string(),
        what: what.to_string(),
        needed,
        len: bytes.len(),
    };
    if bytes.len() < 12 {
        return Err(trunc("the header", 12));
    }
    let int = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let (major, minor, revision) = (int(0), int(4), int(8));
    if major > 1000 || minor > 1000 {
        return Err(WeightsError::Transposed {
            origin: origin.to_string(),
            major,
            minor,
        });
    }
    let wide = i64::from(major) * 10 + i64::from(minor) >= 2;
    let (seen, mut pos) = if wide {
        if bytes.len() < 20 {
            return Err(trunc("the header's u64 seen", 20));
        }
        (
            u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")),
            20,
        )
    } else {
        if bytes.len() < 16 {
            return Err(trunc("the header's u32 seen", 16));
        }
        (
            u64::from(u32::from_le_bytes(
                bytes[12..16].try_into().expect("4 bytes"),
            )),
            16,
        )
    };
    // Check sizes first so a failed load changes nothing.
    let layout: Vec<(String, usize)> = layer_buffers(net)
        .into_iter()
        .map(|(n, b)| (n, b.len()))
        .collect();
    let mut end = pos;
    for (name, len) in &layout {
        end += len * 4;
        if end > bytes.len() {
            return Err(trunc(name, end));
        }
    }
    if end < bytes.len() {
        return Err(WeightsError::TrailingBytes {
            origin: origin.to_string(),
            expected: end,
            extra: bytes.len() - end,
        });
    }
    let read_into = |dst: &mut [f32], pos: &mut usize| {
        let n = dst.len();
        for (d, c) in dst
            .iter_mut()
            .zip(bytes[*pos..*pos + n * 4].chunks_exact(4))
        {
            *d = f32::from_le_bytes(c.try_into().expect("4 bytes"));
        }
        *pos += dst.len() * 4;
    };
    for l in net.layers_mut() {
        let is_conv = matches!(l.kind, Kind::Conv(_));
        let Some(p) = l.params_mut() else { continue };
        read_into(&mut p.biases, &mut pos);
        if !is_conv {
            read_into(&mut p.weights, &mut pos);
        }
        if let Some(bn) = &mut p.bn {
            read_into(&mut bn.scales, &mut pos);
            read_into(&mut bn.rolling_mean, &mut pos);
            read_into(&mut bn.rolling_variance, &mut pos);
        }
        if is_conv {
            read_into(&mut p.weights, &mut pos);
        }
    }
    net.set_seen(seen);
    Ok(WeightsHeader {
        major,
        minor,
        revision,
        seen,
    })
}
