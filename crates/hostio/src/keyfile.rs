//! The owner's key file on disk (mode 0600); its bytes are
//! [`seal::keyfile`]'s format.

use std::path::Path;

use seal::keyfile::{decode_key_file, encode_key_file};
use seal::{KeyBundle, Result};

use crate::fs::{read_secret_file, write_secret_file};

/// Writes `bundle` to a new key file at `path` (mode 0600). Refuses to
/// overwrite an existing file unless `overwrite`.
pub fn write_key_file(path: &Path, bundle: &KeyBundle, overwrite: bool) -> Result<()> {
    write_secret_file(path, &encode_key_file(bundle), overwrite)
}

/// Reads the owner key file at `path`, refusing it if others can read it.
pub fn read_key_file(path: &Path) -> Result<KeyBundle> {
    let bytes = read_secret_file(path)?;
    decode_key_file(&bytes, &format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("owner.key");
        let b = KeyBundle::generate().unwrap();
        write_key_file(&p, &b, false).unwrap();
        assert_eq!(read_key_file(&p).unwrap(), b);
        assert!(write_key_file(&p, &b, false).is_err());
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(decode_key_file(&bytes, "k").unwrap(), b);
    }
}
