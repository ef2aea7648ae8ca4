//! The on-media layout: `[header 4 KiB][main N][back N][raw R]`.
//!
//! Header (little endian):
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic `PTMPOOL\0` |
//! | 8 | format version (u32) |
//! | 12 | header length (u32, 4096) |
//! | 16 | main length N (u64) |
//! | 24 | raw length R (u64) |
//! | 32 | reserved (u64, 0) |
//! | 40 | checksum of bytes 0..40 (u64, FNV-1a) |
//! | 64 | state word (u64, own cache line): IDLE, MUTATING or COPYING |
//!
//! Main starts with the heap metadata (magic, bounds) and the root table; back is
//! its twin; raw is single-copy.

use crate::error::{PtmError, Result};
use std::path::Path;

/// The pool file magic.
pub const MAGIC: [u8; 8] = *b"PTMPOOL\0";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 4096;
/// Offset of the state word in the header.
pub const STATE_OFF: usize = 64;
/// Sizes are rounded up to this granularity.
pub const GRANULE: u64 = 4096;
/// The largest main or raw region accepted (1 TiB).
pub const MAX_REGION: u64 = 1 << 40;

/// The persistent state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolState {
    /// No transaction in flight: main and back are equal.
    Idle,
    /// A transaction is writing main: back holds the consistent state.
    Mutating,
    /// Main is complete and persistent and is being copied to back.
    Copying,
}

impl PoolState {
    /// The word stored in PM.
    pub fn word(self) -> u64 {
        match self {
            PoolState::Idle => 0x1D1E,
            PoolState::Mutating => 0x3A7E,
            PoolState::Copying => 0xC0B1,
        }
    }

    /// The state of a stored word, if it is one.
    pub fn from_word(w: u64) -> Option<Self> {
        [PoolState::Idle, PoolState::Mutating, PoolState::Copying]
            .into_iter()
            .find(|s| s.word() == w)
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PoolState::Idle => "idle",
            PoolState::Mutating => "mutating",
            PoolState::Copying => "copying",
        }
    }
}

/// The static facts of a pool header (no secrets: fit for `plinius inspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Format version.
    pub format_version: u32,
    /// Length of main (and of back) in bytes.
    pub main_len: u64,
    /// Length of the raw region in bytes.
    pub raw_len: u64,
    /// The state word as read.
    pub state: PoolState,
}

impl HeaderInfo {
    /// Total pool length: header + main + back + raw.
    pub fn total_len(&self) -> u64 {
        HEADER_LEN as u64 + 2 * self.main_len + self.raw_len
    }
    /// Offset of main in the pool.
    pub fn main_off(&self) -> usize {
        HEADER_LEN
    }
    /// Offset of back in the pool.
    pub fn back_off(&self) -> usize {
        HEADER_LEN + self.main_len as usize
    }
    /// Offset of raw in the pool.
    pub fn raw_off(&self) -> usize {
        HEADER_LEN + 2 * self.main_len as usize
    }
}

/// FNV-1a 64 of `bytes`.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Writes the static header fields (everything but the magic and the state
/// word) into `h` (at least [`HEADER_LEN`] bytes).
pub fn encode_static(h: &mut [u8], main_len: u64, raw_len: u64) {
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&main_len.to_le_bytes());
    h[24..32].copy_from_slice(&raw_len.to_le_bytes());
    h[32..40].copy_from_slice(&0u64.to_le_bytes());
    let mut tmp = [0u8; 40];
    tmp.copy_from_slice(&h[..40]);
    tmp[..8].copy_from_slice(&MAGIC);
    h[40..48].copy_from_slice(&checksum(&tmp).to_le_bytes());
}

/// Parses and checks a header: `prefix` is the start of the file (up to
/// [`HEADER_LEN`] bytes), `file_len` the file's length. Never panics.
pub fn parse(path: &Path, prefix: &[u8], file_len: u64) -> Result<HeaderInfo> {
    let p = || path.to_path_buf();
    if prefix.len() < 8 || prefix[..8] != MAGIC {
        if prefix.len() < 8 && MAGIC.starts_with(prefix) && !prefix.is_empty() {
            return Err(PtmError::Truncated {
                path: p(),
                actual: file_len,
                expected: HEADER_LEN as u64,
            });
        }
        return Err(PtmError::NotAPool { path: p() });
    }
    if prefix.len() < HEADER_LEN || file_len < HEADER_LEN as u64 {
        return Err(PtmError::Truncated {
            path: p(),
            actual: file_len,
            expected: HEADER_LEN as u64,
        });
    }
    let version = u32_at(prefix, 8);
    if version != FORMAT_VERSION {
        return Err(PtmError::VersionMismatch {
            path: p(),
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    if checksum(&prefix[..40]) != u64_at(prefix, 40) {
        return Err(PtmError::HeaderChecksum { path: p() });
    }
    let bad = |what: String| PtmError::BadHeader { path: p(), what };
    let header_len = u32_at(prefix, 12);
    if header_len as usize != HEADER_LEN {
        return Err(bad(format!("header length {header_len}")));
    }
    let main_len = u64_at(prefix, 16);
    let raw_len = u64_at(prefix, 24);
    if main_len == 0 || main_len % GRANULE != 0 || main_len > MAX_REGION {
        return Err(bad(format!("main length {main_len}")));
    }
    if raw_len % GRANULE != 0 || raw_len > MAX_REGION {
        return Err(bad(format!("raw length {raw_len}")));
    }
    let state_word = u64_at(prefix, STATE_OFF);
    let state = PoolState::from_word(state_word)
        .ok_or_else(|| bad(format!("state word {state_word:#x}")))?;
    let info = HeaderInfo {
        format_version: version,
        main_len,
        raw_len,
        state,
    };
    let expected = info.total_len();
    if file_len < expected {
        return Err(PtmError::Truncated {
            path: p(),
            actual: file_len,
            expected,
        });
    }
    if file_len > expected {
        return Err(PtmError::SizeMismatch {
            path: p(),
            actual: file_len,
            expected,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(main: u64, raw: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        encode_static(&mut h, main, raw);
        h[..8].copy_from_slice(&MAGIC);
        h[STATE_OFF..STATE_OFF + 8].copy_from_slice(&PoolState::Idle.word().to_le_bytes());
        h
    }

    #[test]
    fn good_header_parses() {
        let h = header(8192, 4096);
        let info = parse(Path::new("p"), &h, 4096 + 2 * 8192 + 4096).unwrap();
        assert_eq!(info.main_len, 8192);
        assert_eq!(info.raw_len, 4096);
        assert_eq!(info.state, PoolState::Idle);
    }

    #[test]
    fn each_bad_header_has_its_error() {
        let p = Path::new("x.pool");
        let total = 4096 + 2 * 8192;
        assert!(matches!(
            parse(p, b"hello", 5),
            Err(PtmError::NotAPool { .. })
        ));
        assert!(matches!(
            parse(p, b"PTMP", 4),
            Err(PtmError::Truncated { .. })
        ));
        let h = header(8192, 0);
        assert!(matches!(
            parse(p, &h[..100], 100),
            Err(PtmError::Truncated { .. })
        ));
        assert!(matches!(
            parse(p, &h, total - 1),
            Err(PtmError::Truncated { .. })
        ));
        assert!(matches!(
            parse(p, &h, total + 1),
            Err(PtmError::SizeMismatch { .. })
        ));
        let mut v = h.clone();
        v[8] = 9;
        assert!(matches!(
            parse(p, &v, total),
            Err(PtmError::VersionMismatch { found: 9, .. })
        ));
        let mut c = h.clone();
        c[17] ^= 1;
        assert!(matches!(
            parse(p, &c, total),
            Err(PtmError::HeaderChecksum { .. })
        ));
        let mut s = h.clone();
        s[STATE_OFF] = 0x55;
        assert!(matches!(
            parse(p, &s, total),
            Err(PtmError::BadHeader { .. })
        ));
        let e = parse(p, &c, total).unwrap_err().to_string();
        assert!(e.contains("x.pool") && e.contains("checksum"), "{e}");
    }
}
