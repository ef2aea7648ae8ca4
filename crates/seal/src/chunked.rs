//! Buffers of any size, sealed as a sequence of records of at most
//! [`CHUNK_SIZE`] plaintext bytes.
//!
//! Chunk `i` of `n` is a record (see [`crate::record`]) whose associated data
//! is `caller AAD ‖ i (u64 LE) ‖ n (u64 LE)`. The count is derived from the
//! buffer length, and the index from the chunk's position, so a chunk that is
//! dropped, duplicated, reordered, or a sealed buffer truncated or extended by
//! whole chunks, fails to open. An empty buffer is one empty chunk (28 bytes),
//! so even truncation to nothing is detected.

use crate::error::{Result, SealError};
use crate::key::SealKey;
use crate::record::{OVERHEAD, check_len, describe_aad, open_into, seal_into};

/// Plaintext bytes per chunk (the last chunk may be shorter): 1 MiB.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Number of chunks a buffer of `len` bytes is sealed into (at least 1).
pub const fn chunk_count(len: usize) -> usize {
    if len == 0 {
        1
    } else {
        len.div_ceil(CHUNK_SIZE)
    }
}

/// Sealed length of a buffer of `len` bytes.
pub const fn chunked_sealed_len(len: usize) -> usize {
    len + chunk_count(len) * OVERHEAD
}

/// Inverse of [`chunked_sealed_len`]: the plaintext length of a sealed buffer
/// of `sealed_len` bytes, or `None` if no plaintext length gives that size.
pub const fn chunked_plain_len(sealed_len: usize) -> Option<usize> {
    let full = sealed_len / (CHUNK_SIZE + OVERHEAD);
    let rem = sealed_len % (CHUNK_SIZE + OVERHEAD);
    if rem == 0 {
        if full == 0 {
            None
        } else {
            Some(full * CHUNK_SIZE)
        }
    } else if rem < OVERHEAD || (rem == OVERHEAD && full > 0) {
        None
    } else {
        Some(full * CHUNK_SIZE + rem - OVERHEAD)
    }
}

/// Associated data of one chunk, built without allocating for AADs up to
/// 112 bytes.
struct ChunkAad {
    inline: [u8; 128],
    heap: Vec<u8>,
    base: usize,
    use_heap: bool,
}

impl ChunkAad {
    fn new(aad: &[u8]) -> Self {
        let mut a = ChunkAad {
            inline: [0u8; 128],
            heap: Vec::new(),
            base: aad.len(),
            use_heap: aad.len() + 16 > 128,
        };
        if a.use_heap {
            a.heap.extend_from_slice(aad);
            a.heap.resize(aad.len() + 16, 0);
        } else {
            a.inline[..aad.len()].copy_from_slice(aad);
        }
        a
    }

    fn set(&mut self, index: usize, count: usize) -> &[u8] {
        let buf: &mut [u8] = if self.use_heap {
            &mut self.heap
        } else {
            &mut self.inline
        };
        buf[self.base..self.base + 8].copy_from_slice(&(index as u64).to_le_bytes());
        buf[self.base + 8..self.base + 16].copy_from_slice(&(count as u64).to_le_bytes());
        &buf[..self.base + 16]
    }
}

/// Seals `plain` into `out` (`out.len()` must be
/// [`chunked_sealed_len`]`(plain.len())`), chunk by chunk, each bound to its
/// index and the chunk count.
pub fn seal_chunked_into(key: &SealKey, aad: &[u8], plain: &[u8], out: &mut [u8]) -> Result<()> {
    check_len(
        "chunked sealed buffer",
        out.len(),
        chunked_sealed_len(plain.len()),
    )?;
    let count = chunk_count(plain.len());
    let mut caad = ChunkAad::new(aad);
    let mut off = 0;
    for i in 0..count {
        let start = i * CHUNK_SIZE;
        let end = (start + CHUNK_SIZE).min(plain.len());
        let src = &plain[start..end];
        let rec_len = src.len() + OVERHEAD;
        seal_into(key, caad.set(i, count), src, &mut out[off..off + rec_len])?;
        off += rec_len;
    }
    Ok(())
}

/// Opens a chunked sealed buffer from the read-only `sealed` into `out`
/// (`sealed.len()` must be [`chunked_sealed_len`]`(out.len())`). The error of
/// a failed chunk names the chunk; `out` is zeroed on any failure.
pub fn open_chunked_into(key: &SealKey, aad: &[u8], sealed: &[u8], out: &mut [u8]) -> Result<()> {
    let expected = chunked_sealed_len(out.len());
    if sealed.len() != expected {
        return Err(SealError::Format {
            what: describe_aad(aad),
            reason: format!(
                "sealed buffer is {} bytes, expected {expected} for {} plaintext bytes \
                 (chunks dropped, added or truncated)",
                sealed.len(),
                out.len()
            ),
        });
    }
    let count = chunk_count(out.len());
    let mut caad = ChunkAad::new(aad);
    let mut off = 0;
    for i in 0..count {
        let start = i * CHUNK_SIZE;
        let end = (start + CHUNK_SIZE).min(out.len());
        let rec_len = end - start + OVERHEAD;
        if let Err(e) = open_into(
            key,
            caad.set(i, count),
            &sealed[off..off + rec_len],
            &mut out[start..end],
        ) {
            out.fill(0);
            return Err(e.for_record(format!("chunk {i} of {count} of {}", describe_aad(aad))));
        }
        off += rec_len;
    }
    Ok(())
}

/// Seals `plain` into a new vector.
pub fn seal_chunked_to_vec(key: &SealKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; chunked_sealed_len(plain.len())];
    seal_chunked_into(key, aad, plain, &mut out)?;
    Ok(out)
}

/// Opens a chunked sealed buffer into a new vector, deriving the plaintext
/// length from the sealed length.
pub fn open_chunked_to_vec(key: &SealKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let n = chunked_plain_len(sealed.len()).ok_or_else(|| SealError::Format {
        what: describe_aad(aad),
        reason: format!(
            "{} bytes is not the length of any chunked sealed buffer",
            sealed.len()
        ),
    })?;
    let mut out = vec![0u8; n];
    open_chunked_into(key, aad, sealed, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key256;
    use proptest::prelude::*;

    fn key() -> SealKey {
        Key256::from_bytes([5u8; 32]).seal_key()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn lengths() {
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE), 1);
        assert_eq!(chunk_count(CHUNK_SIZE + 1), 2);
        for n in [
            0,
            1,
            27,
            28,
            29,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE + 5,
        ] {
            assert_eq!(chunked_plain_len(chunked_sealed_len(n)), Some(n), "n={n}");
        }
        assert_eq!(chunked_plain_len(0), None);
        assert_eq!(chunked_plain_len(27), None);
        assert_eq!(chunked_plain_len(CHUNK_SIZE + OVERHEAD + 28), None);
    }

    #[test]
    fn dropped_reordered_truncated_chunks_fail() {
        let k = key();
        let plain = data(3 * CHUNK_SIZE + 1000);
        let sealed = seal_chunked_to_vec(&k, b"buf", &plain).unwrap();
        assert_eq!(open_chunked_to_vec(&k, b"buf", &sealed).unwrap(), plain);
        let rec = CHUNK_SIZE + OVERHEAD;
        let chunks: Vec<&[u8]> = vec![
            &sealed[..rec],
            &sealed[rec..2 * rec],
            &sealed[2 * rec..3 * rec],
            &sealed[3 * rec..],
        ];
        // Drop chunk 1.
        let dropped: Vec<u8> = [chunks[0], chunks[2], chunks[3]].concat();
        let e = open_chunked_to_vec(&k, b"buf", &dropped).unwrap_err();
        assert!(matches!(e, SealError::Open { .. }), "{e}");
        // Swap chunks 0 and 1.
        let swapped: Vec<u8> = [chunks[1], chunks[0], chunks[2], chunks[3]].concat();
        let e = open_chunked_to_vec(&k, b"buf", &swapped).unwrap_err();
        assert!(e.to_string().contains("chunk 0 of 4"), "{e}");
        // Truncate to the first three full chunks (a valid-looking length).
        let truncated = [chunks[0], chunks[1], chunks[2]].concat();
        assert!(open_chunked_to_vec(&k, b"buf", &truncated).is_err());
        // Truncate by some bytes.
        assert!(open_chunked_to_vec(&k, b"buf", &sealed[..sealed.len() - 1]).is_err());
        // Opening into a buffer of the wrong size.
        let mut out = vec![0u8; plain.len() - 1];
        assert!(open_chunked_into(&k, b"buf", &sealed, &mut out).is_err());
        // Other AAD.
        assert!(open_chunked_to_vec(&k, b"bug", &sealed).is_err());
        // Duplicate the last chunk onto a one-chunk buffer.
        let small = seal_chunked_to_vec(&k, b"s", &data(10)).unwrap();
        let doubled = [&small[..], &small[..]].concat();
        assert!(open_chunked_to_vec(&k, b"s", &doubled).is_err());
    }

    #[test]
    fn empty_buffer_is_one_chunk() {
        let k = key();
        let sealed = seal_chunked_to_vec(&k, b"e", &[]).unwrap();
        assert_eq!(sealed.len(), OVERHEAD);
        assert_eq!(
            open_chunked_to_vec(&k, b"e", &sealed).unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn long_aad_uses_heap_path() {
        let k = key();
        let aad = vec![9u8; 300];
        let plain = data(CHUNK_SIZE + 3);
        let sealed = seal_chunked_to_vec(&k, &aad, &plain).unwrap();
        assert_eq!(open_chunked_to_vec(&k, &aad, &sealed).unwrap(), plain);
        let mut aad2 = aad.clone();
        aad2[299] = 8;
        assert!(open_chunked_to_vec(&k, &aad2, &sealed).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn round_trips(n in 0usize..(2 * CHUNK_SIZE + 100), seed in any::<u8>()) {
            let k = key();
            let plain: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let sealed = seal_chunked_to_vec(&k, b"p", &plain).unwrap();
            prop_assert_eq!(sealed.len(), chunked_sealed_len(n));
            prop_assert_eq!(open_chunked_to_vec(&k, b"p", &sealed).unwrap(), plain);
        }
    }
}
