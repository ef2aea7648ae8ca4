//! The owner's key file: a versioned binary file, mode 0600, holding the
//! owner's [`KeyBundle`] (dataset key and model key).
//!
//! Layout: `"PLOWNKEY"` ‖ version u16 LE (1) ‖ 0u16 ‖ bundle length u32 LE ‖
//! serialised bundle ‖ checksum (first 8 bytes of SHA-256 of all before it).

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Result, SealError};
use crate::files::{read_secret_file, write_secret_file};
use crate::key::{BUNDLE_LEN, KeyBundle};

/// The key file's header: magic and version.
const HEADER: wire::Header = wire::Header {
    magic: b"PLOWNKEY",
    width: wire::VersionWidth::U16,
    version: KEYFILE_VERSION as u32,
    min_len: 16,
    foreign: "not a Plinius owner key file (bad magic)",
    label: "key file format version",
};
/// Version of the owner key file format.
pub const KEYFILE_VERSION: u16 = 1;
/// Length of an owner key file.
pub const KEYFILE_LEN: usize = 8 + 2 + 2 + 4 + BUNDLE_LEN + 8;

/// Serialises `bundle` as an owner key file.
pub fn encode_key_file(bundle: &KeyBundle) -> Zeroizing<Vec<u8>> {
    let mut w = wire::Writer::with_capacity(KEYFILE_LEN);
    HEADER.write(&mut w);
    w.u16(0);
    w.u32(BUNDLE_LEN as u32);
    w.bytes(&bundle.to_bytes());
    w.checksum();
    w.into_zeroizing()
}

/// Parses an owner key file's bytes; `what` names it in errors.
pub fn decode_key_file(bytes: &[u8], what: &str) -> Result<KeyBundle> {
    let mut r = HEADER.check(bytes, what)?;
    if bytes.len() != KEYFILE_LEN {
        return Err(SealError::format(
            what,
            format!(
                "{} bytes, expected {KEYFILE_LEN} (truncated or corrupted)",
                bytes.len()
            ),
        ));
    }
    if !wire::checksum_ok(bytes, KEYFILE_LEN - 8) {
        return Err(SealError::format(
            what,
            "checksum mismatch (corrupted key file)",
        ));
    }
    r.skip(2, "reserved")?;
    let blen = r.u32("bundle length")? as usize;
    if blen != BUNDLE_LEN {
        return Err(SealError::format(
            what,
            format!("bundle length {blen}, expected {BUNDLE_LEN}"),
        ));
    }
    KeyBundle::from_bytes(r.take(BUNDLE_LEN, "key bundle")?).map_err(|e| match e {
        SealError::Format { reason, .. } => SealError::format(what, reason),
        other => other,
    })
}

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
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("owner.key");
        let b = KeyBundle::generate().unwrap();
        write_key_file(&p, &b, false).unwrap();
        assert_eq!(read_key_file(&p).unwrap(), b);
        let bytes = std::fs::read(&p).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_key_file(&bad, "k").is_err(), "byte {i}");
        }
        let e = decode_key_file(&bytes[..40], "owner.key").unwrap_err();
        assert!(e.to_string().contains("owner.key"), "{e}");
        assert!(decode_key_file(b"hello world, not a key", "x").is_err());
    }
}
