//! Format headers: magic, version, checksum.

use sha2::{Digest, Sha256};

use crate::{Reader, Result, WireError, Writer};

/// First 8 bytes of SHA-256 of `bytes`: the checksum of file headers.
pub fn checksum8(bytes: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(bytes);
    let mut c = [0u8; 8];
    c.copy_from_slice(&d[..8]);
    c
}

/// Whether `bytes[covered..covered + 8]` is the [`checksum8`] of
/// `bytes[..covered]` (false if `bytes` is too short).
pub fn checksum_ok(bytes: &[u8], covered: usize) -> bool {
    match covered
        .checked_add(8)
        .and_then(|end| bytes.get(covered..end))
    {
        Some(stored) => checksum8(&bytes[..covered]) == stored,
        None => false,
    }
}

/// Width of a format's version field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionWidth {
    /// A u16.
    U16,
    /// A u32.
    U32,
}

/// The start every Plinius format shares: a magic, then the format version
/// (u16 or u32, little endian). The wording of its errors is the format's.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// The magic bytes.
    pub magic: &'static [u8],
    /// Width of the version field after the magic.
    pub width: VersionWidth,
    /// The version this build writes and reads.
    pub version: u32,
    /// Least bytes a well-formed instance has (checked with the magic).
    pub min_len: usize,
    /// The error reason for bytes without the magic or shorter than `min_len`.
    pub foreign: &'static str,
    /// How the format calls its version in errors ("format version", ...).
    pub label: &'static str,
}

impl Header {
    /// Bytes of magic and version.
    pub fn len(&self) -> usize {
        self.magic.len()
            + match self.width {
                VersionWidth::U16 => 2,
                VersionWidth::U32 => 4,
            }
    }

    /// Whether the header is empty (never: a header has a magic).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `bytes` start with the magic.
    pub fn has_magic(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(self.magic)
    }

    /// Writes magic and version.
    pub fn write(&self, w: &mut Writer) {
        w.bytes(self.magic);
        match self.width {
            VersionWidth::U16 => w.u16(self.version as u16),
            VersionWidth::U32 => w.u32(self.version),
        }
    }

    /// Magic and version as bytes, for associated data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.len());
        self.write(&mut w);
        w.into_vec()
    }

    /// Checks length, magic and version of `bytes` (named `what` in errors)
    /// and returns a reader positioned after the version.
    pub fn check<'a>(&self, bytes: &'a [u8], what: &'a str) -> Result<Reader<'a>> {
        if bytes.len() < self.min_len.max(self.len()) || !self.has_magic(bytes) {
            return Err(WireError::Foreign {
                what: what.to_string(),
                reason: self.foreign,
            });
        }
        let mut r = Reader::new(bytes, what);
        r.skip(self.magic.len(), "magic")?;
        let found = match self.width {
            VersionWidth::U16 => u32::from(r.u16("format version")?),
            VersionWidth::U32 => r.u32("format version")?,
        };
        if found != self.version {
            return Err(WireError::Version {
                what: what.to_string(),
                label: self.label,
                found,
                supported: self.version,
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Header = Header {
        magic: b"PLTEST\0\0",
        width: VersionWidth::U16,
        version: 3,
        min_len: 12,
        foreign: "not a test file (bad magic)",
        label: "test format version",
    };

    #[test]
    fn checksum_is_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(
            checksum8(b"abc"),
            [0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]
        );
        let mut v = b"hello".to_vec();
        v.extend_from_slice(&checksum8(b"hello"));
        assert!(checksum_ok(&v, 5));
        v[0] ^= 1;
        assert!(!checksum_ok(&v, 5));
        assert!(!checksum_ok(&v, 6));
        assert!(!checksum_ok(&v, usize::MAX));
    }

    #[test]
    fn header_round_trip_and_errors() {
        let mut w = Writer::new();
        H.write(&mut w);
        w.u16(0xBEEF);
        let b = w.into_vec();
        assert_eq!(b.len(), 12);
        let mut r = H.check(&b, "t.bin").unwrap();
        assert_eq!(r.u16("tail").unwrap(), 0xBEEF);
        let e = H.check(&b[..11], "t.bin").unwrap_err();
        assert_eq!(e.to_string(), "t.bin: not a test file (bad magic)");
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(matches!(
            H.check(&bad, "t").unwrap_err(),
            WireError::Foreign { .. }
        ));
        let mut v4 = b.clone();
        v4[8] = 4;
        let e = H.check(&v4, "t.bin").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.bin: test format version 4, this build reads 3"
        );
        assert_eq!(e.reason(), "test format version 4, this build reads 3");
        assert_eq!(e.what(), "t.bin");
    }
}
