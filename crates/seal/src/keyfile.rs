//! The owner's key file format: a versioned binary file (written with mode
//! 0600 by the host) holding the owner's [`KeyBundle`] (dataset key and
//! model key). Encoding and decoding only: no file I/O here.
//!
//! Layout: `"PLOWNKEY"` ‖ version u16 LE (1) ‖ 0u16 ‖ bundle length u32 LE ‖
//! serialised bundle ‖ checksum (first 8 bytes of SHA-256 of all before it).

use zeroize::Zeroizing;

use crate::error::{Result, SealError};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let b = KeyBundle::generate().unwrap();
        let bytes = encode_key_file(&b).to_vec();
        assert_eq!(decode_key_file(&bytes, "owner.key").unwrap(), b);
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
