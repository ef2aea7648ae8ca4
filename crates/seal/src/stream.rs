//! Sealing straight into memory that is not read back soon (persistent
//! memory, a mirror slot) with non-temporal stores.
//!
//! Sealing out of place into a cold destination costs three memory passes:
//! reading the plaintext, reading the destination lines into the cache
//! before writing them (read-for-ownership), and writing them back. An
//! [`NtSealer`] seals each chunk into a cache-resident scratch record, then
//! streams it to the destination with non-temporal stores, which skip the
//! read-for-ownership: two passes. Its output is the same as
//! [`crate::seal_chunked_into`]'s and opens with [`crate::open_chunked_into`].
//!
//! After [`NtSealer::seal_chunked_into`] returns, a store fence has ordered
//! the streamed data: on persistent memory it has left the CPU caches (no
//! cache-line flush is needed for it, only the fence that was issued).
//!
//! This is the one module of the crate with `unsafe` code (the x86-64
//! streaming-store intrinsics).

use crate::chunked::{CHUNK_SIZE, chunk_count, chunked_sealed_len};
use crate::error::Result;
use crate::key::SealKey;
use crate::record::{OVERHEAD, check_len, seal_into};

/// Copies `src` into `dst` (same length) with non-temporal stores for the
/// 16-byte-aligned middle of `dst` and ordinary stores for its ends. Does not
/// fence: call [`store_fence`] before relying on the order.
pub fn copy_nt(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_nt: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let head = dst.as_ptr().align_offset(16).min(dst.len());
        let body = (dst.len() - head) / 16 * 16;
        dst[..head].copy_from_slice(&src[..head]);
        let d = dst[head..head + body].as_mut_ptr();
        let s = src[head..head + body].as_ptr();
        let mut i = 0;
        while i < body {
            // SAFETY: `i + 16 <= body`, so both 16-byte accesses stay inside
            // the `body`-long ranges of `dst` and `src` taken above; `d + i` is
            // 16-byte aligned (`d` is, by the choice of `head`, and `i` is a
            // multiple of 16) as `_mm_stream_si128` requires; the load is
            // unaligned-tolerant (`loadu`). SSE2 is part of x86-64.
            unsafe {
                let v = _mm_loadu_si128(s.add(i) as *const __m128i);
                _mm_stream_si128(d.add(i) as *mut __m128i, v);
            }
            i += 16;
        }
        dst[head + body..].copy_from_slice(&src[head + body..]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Orders all earlier stores, including non-temporal ones (`sfence` on x86-64).
pub fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no operands and no memory-safety preconditions;
    // SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

/// Seals chunked buffers with streaming stores through a reusable scratch
/// record (one chunk, allocated once).
pub struct NtSealer {
    scratch: Vec<u8>,
    aad: Vec<u8>,
}

impl Default for NtSealer {
    fn default() -> Self {
        Self::new()
    }
}

impl NtSealer {
    /// A sealer with its 1 MiB scratch record.
    pub fn new() -> Self {
        NtSealer {
            scratch: vec![0u8; CHUNK_SIZE + OVERHEAD],
            aad: Vec::new(),
        }
    }

    /// Like [`crate::seal_chunked_into`] (same output), writing `out` with
    /// non-temporal stores and ending with a store fence. The scratch record
    /// holds ciphertext only (never plaintext).
    pub fn seal_chunked_into(
        &mut self,
        key: &SealKey,
        aad: &[u8],
        plain: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        check_len(
            "chunked sealed buffer",
            out.len(),
            chunked_sealed_len(plain.len()),
        )?;
        let count = chunk_count(plain.len());
        let caad = &mut self.aad;
        caad.clear();
        caad.extend_from_slice(aad);
        caad.resize(aad.len() + 16, 0);
        let mut off = 0;
        for i in 0..count {
            let start = i * CHUNK_SIZE;
            let end = (start + CHUNK_SIZE).min(plain.len());
            let rec_len = end - start + OVERHEAD;
            caad[aad.len()..aad.len() + 8].copy_from_slice(&(i as u64).to_le_bytes());
            caad[aad.len() + 8..].copy_from_slice(&(count as u64).to_le_bytes());
            let scratch = &mut self.scratch[..rec_len];
            seal_into(key, caad, &plain[start..end], scratch)?;
            copy_nt(&mut out[off..off + rec_len], scratch);
            off += rec_len;
        }
        store_fence();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key256;
    use crate::{open_chunked_into, open_chunked_to_vec};

    #[test]
    fn copy_nt_any_alignment_and_length() {
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        for off in 0..17 {
            for len in [0usize, 1, 15, 16, 17, 31, 64, 100, 283 - off] {
                let mut buf = vec![0u8; 300];
                copy_nt(&mut buf[off..off + len], &src[..len]);
                store_fence();
                assert_eq!(&buf[off..off + len], &src[..len]);
                assert!(buf[..off].iter().all(|&b| b == 0));
                assert!(buf[off + len..].iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn same_format_as_chunked_and_tamper_evident() {
        let key = Key256::from_bytes([4u8; 32]).seal_key();
        let mut s = NtSealer::new();
        for n in [0usize, 5, CHUNK_SIZE, 2 * CHUNK_SIZE + 3] {
            let plain: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
            // An odd offset into the destination: unaligned PM slices work.
            let mut backing = vec![0u8; chunked_sealed_len(n) + 3];
            let out = &mut backing[3..];
            s.seal_chunked_into(&key, b"nt", &plain, out).unwrap();
            let mut back = vec![0u8; n];
            open_chunked_into(&key, b"nt", out, &mut back).unwrap();
            assert_eq!(back, plain);
            if n > 0 {
                out[n / 2 + 12] ^= 1;
                assert!(open_chunked_to_vec(&key, b"nt", out).is_err());
            }
        }
        let mut wrong = vec![0u8; 10];
        assert!(
            s.seal_chunked_into(&key, b"nt", b"abc", &mut wrong)
                .is_err()
        );
    }
}
