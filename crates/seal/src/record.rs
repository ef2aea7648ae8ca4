//! Sealed records: AES-256-GCM with a unique 96-bit nonce and required
//! associated data.
//!
//! A record is `nonce (12) ‖ ciphertext (n) ‖ tag (16)`: [`OVERHEAD`] = 28
//! bytes more than the plaintext. The associated data (AAD) is not stored: the
//! caller rebuilds it from what the record *should* be (dataset id and sample
//! index, buffer id and iteration, ...), so a record moved to another place,
//! swapped or replayed from another iteration fails to open.
//!
//! All functions write into caller-provided slices (which may be persistent
//! memory) and allocate nothing. Opening reads the record from a read-only
//! slice (it may live in a mapped file) and writes the plaintext only to the
//! caller's buffer; on failure that buffer is zeroed, so no unauthenticated
//! plaintext is ever released.
//!
//! Nonces are unique per prepared key (see [`SealKey`]: a random 64-bit field
//! per preparation and a counter); still, derive a subkey per use with
//! [`crate::Key256::derive`] to keep the records under one key few.

use aws_lc_rs::aead::{Aad, NONCE_LEN as AWS_NONCE_LEN, Nonce};

use crate::error::{Result, SealError};
use crate::key::SealKey;

/// Bytes of the nonce at the start of a record.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM tag at the end of a record.
pub const TAG_LEN: usize = 16;
/// Bytes a record adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const _: () = assert!(AWS_NONCE_LEN == NONCE_LEN);

/// Length of the record that seals `plain_len` bytes.
pub const fn sealed_len(plain_len: usize) -> usize {
    plain_len + OVERHEAD
}

/// Length of the plaintext inside a record of `record_len` bytes, or `None`
/// if the record is shorter than [`OVERHEAD`].
pub const fn plain_len(record_len: usize) -> Option<usize> {
    record_len.checked_sub(OVERHEAD)
}

/// Describes a record by (a prefix of) its associated data, for errors.
pub(crate) fn describe_aad(aad: &[u8]) -> String {
    const SHOW: usize = 48;
    if aad.len() <= SHOW {
        format!("record with associated data {}", hex::encode(aad))
    } else {
        format!(
            "record with associated data {}… ({} bytes)",
            hex::encode(&aad[..SHOW]),
            aad.len()
        )
    }
}

/// [`SealError::Length`] naming `what` unless `actual == expected`.
pub(crate) fn check_len(what: &str, actual: usize, expected: usize) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(SealError::Length {
            what: what.into(),
            actual,
            expected,
        })
    }
}

fn fresh_nonce(key: &SealKey, out: &mut [u8]) -> Result<Nonce> {
    let n = key.next_nonce()?;
    out.copy_from_slice(&n);
    Ok(Nonce::assume_unique_for_key(n))
}

/// Seals `plain` into `out` (`out.len()` must be [`sealed_len`]`(plain.len())`),
/// writing `nonce ‖ ciphertext ‖ tag` directly, with no intermediate buffer.
pub fn seal_into(key: &SealKey, aad: &[u8], plain: &[u8], out: &mut [u8]) -> Result<()> {
    check_len("sealed record buffer", out.len(), sealed_len(plain.len()))?;
    let (nonce_out, rest) = out.split_at_mut(NONCE_LEN);
    let (ct_out, tag_out) = rest.split_at_mut(plain.len());
    let nonce = fresh_nonce(key, nonce_out)?;
    key.aead()
        .seal_out_of_place_scatter(nonce, Aad::from(aad), plain, ct_out, &[], tag_out)
        .map_err(|_| SealError::Seal {
            what: describe_aad(aad),
        })
}

/// Seals in place: `record` is `[NONCE_LEN reserved][plaintext][TAG_LEN reserved]`
/// on entry and the sealed record on return.
pub fn seal_in_place(key: &SealKey, aad: &[u8], record: &mut [u8]) -> Result<()> {
    if record.len() < OVERHEAD {
        return Err(SealError::Length {
            what: "record buffer for in-place sealing".into(),
            actual: record.len(),
            expected: OVERHEAD,
        });
    }
    let (nonce_out, rest) = record.split_at_mut(NONCE_LEN);
    let body_len = rest.len() - TAG_LEN;
    let (body, tag_out) = rest.split_at_mut(body_len);
    let nonce = fresh_nonce(key, nonce_out)?;
    let tag = key
        .aead()
        .seal_in_place_separate_tag(nonce, Aad::from(aad), body)
        .map_err(|_| SealError::Seal {
            what: describe_aad(aad),
        })?;
    tag_out.copy_from_slice(tag.as_ref());
    Ok(())
}

/// Seals `plain` into a new vector (convenience for small, non-hot paths).
pub fn seal_to_vec(key: &SealKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; sealed_len(plain.len())];
    seal_into(key, aad, plain, &mut out)?;
    Ok(out)
}

/// The plaintext length of a record of `len` bytes, or a format error
/// (describing the record by `aad`) if it is too short to be one.
fn record_plain_len(aad: &[u8], len: usize) -> Result<usize> {
    plain_len(len).ok_or_else(|| {
        SealError::format(
            describe_aad(aad),
            format!("record is {len} bytes, shorter than the {OVERHEAD} bytes of nonce and tag"),
        )
    })
}

/// Opens the read-only `record` into `out` (`out.len()` must be
/// `record.len() - OVERHEAD`). On failure `out` is zeroed and the error
/// describes the record by its associated data; use
/// [`SealError::for_record`] to give it a better name.
///
/// `record` is read exactly once: nonce and tag are copied to the stack and
/// the ciphertext into `out`, which is then authenticated and decrypted in
/// place. `record` may lie in memory another party writes concurrently (a
/// shared mapping): AES-GCM reads the ciphertext twice (GHASH and CTR), and
/// working on the private copy makes sure the plaintext is the decryption of
/// exactly the bytes that were authenticated.
pub fn open_into(key: &SealKey, aad: &[u8], record: &[u8], out: &mut [u8]) -> Result<()> {
    let (nonce, tag) = copy_record(aad, record, out)?;
    open_copied(key, aad, nonce, &tag, out)
}

/// The one read of a (possibly shared) record: returns its nonce and tag and
/// copies its ciphertext into `out` (`out.len()` must be
/// `record.len() - OVERHEAD`).
fn copy_record(
    aad: &[u8],
    record: &[u8],
    out: &mut [u8],
) -> Result<([u8; NONCE_LEN], [u8; TAG_LEN])> {
    let n = record_plain_len(aad, record.len())?;
    check_len("plaintext buffer", out.len(), n)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&record[..NONCE_LEN]);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&record[NONCE_LEN + n..]);
    out.copy_from_slice(&record[NONCE_LEN..NONCE_LEN + n]);
    Ok((nonce, tag))
}

/// Authenticates and decrypts, in place, a ciphertext [`copy_record`] put in
/// `out`; zeroes `out` on failure.
fn open_copied(
    key: &SealKey,
    aad: &[u8],
    nonce: [u8; NONCE_LEN],
    tag: &[u8; TAG_LEN],
    out: &mut [u8],
) -> Result<()> {
    match key.aead().open_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        tag,
        out,
    ) {
        Ok(_) => Ok(()),
        Err(_) => {
            out.fill(0);
            Err(SealError::Open {
                record: describe_aad(aad),
            })
        }
    }
}

/// Opens a record in place; returns the plaintext, which is
/// `record[NONCE_LEN..record.len() - TAG_LEN]`. On failure that range is zeroed.
pub fn open_in_place<'a>(key: &SealKey, aad: &[u8], record: &'a mut [u8]) -> Result<&'a mut [u8]> {
    let n = record_plain_len(aad, record.len())?;
    let nonce = Nonce::try_assume_unique_for_key(&record[..NONCE_LEN])
        .expect("nonce slice has NONCE_LEN bytes");
    let (head, tag) = record.split_at_mut(NONCE_LEN + n);
    let body = &mut head[NONCE_LEN..];
    let ok = key
        .aead()
        .open_in_place_separate_tag(nonce, Aad::from(aad), tag, body)
        .is_ok();
    if !ok {
        body.fill(0);
        return Err(SealError::Open {
            record: describe_aad(aad),
        });
    }
    Ok(&mut record[NONCE_LEN..NONCE_LEN + n])
}

/// Opens `record` into a new vector (convenience for small, non-hot paths).
pub fn open_to_vec(key: &SealKey, aad: &[u8], record: &[u8]) -> Result<Vec<u8>> {
    let n = plain_len(record.len()).unwrap_or(0);
    let mut out = vec![0u8; n];
    open_into(key, aad, record, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key256;
    use proptest::prelude::*;

    fn key(b: u8) -> SealKey {
        Key256::from_bytes([b; 32]).seal_key()
    }

    #[test]
    fn open_into_works_from_its_private_copy() {
        let k = key(7);
        let aad = b"shared record";
        let plain: Vec<u8> = (0..100u8).collect();
        let mut shared = seal_to_vec(&k, aad, &plain).unwrap();
        let other = seal_to_vec(&k, aad, &[0xee; 100]).unwrap();
        // The record is copied once; whatever the shared bytes become after
        // that (another valid record, garbage) does not change the result.
        let mut out = vec![0u8; plain.len()];
        let (nonce, tag) = copy_record(aad, &shared, &mut out).unwrap();
        shared.copy_from_slice(&other);
        open_copied(&k, aad, nonce, &tag, &mut out).unwrap();
        assert_eq!(out, plain);
        let (nonce, tag) = copy_record(aad, &shared, &mut out).unwrap();
        shared.fill(0x5a);
        open_copied(&k, aad, nonce, &tag, &mut out).unwrap();
        assert_eq!(out, [0xee; 100]);
        // A copy that does not authenticate is zeroed, whatever the source.
        let (nonce, mut tag) = copy_record(aad, &other, &mut out).unwrap();
        tag[0] ^= 1;
        assert!(open_copied(&k, aad, nonce, &tag, &mut out).is_err());
        assert!(out.iter().all(|&b| b == 0));
        // open_into is exactly copy then open.
        open_into(&k, aad, &other, &mut out).unwrap();
        assert_eq!(out, [0xee; 100]);
    }

    #[test]
    fn every_single_bit_flip_fails() {
        let k = key(1);
        let aad = b"rec/7";
        let plain: Vec<u8> = (0..40u8).collect();
        let rec = seal_to_vec(&k, aad, &plain).unwrap();
        assert_eq!(rec.len(), plain.len() + OVERHEAD);
        let mut out = vec![0u8; plain.len()];
        open_into(&k, aad, &rec, &mut out).unwrap();
        assert_eq!(out, plain);
        for bit in 0..rec.len() * 8 {
            let mut bad = rec.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut out = vec![0xEEu8; plain.len()];
            let err = open_into(&k, aad, &bad, &mut out).unwrap_err();
            assert!(matches!(err, SealError::Open { .. }), "bit {bit}: {err}");
            assert!(out.iter().all(|&b| b == 0), "bit {bit}: plaintext released");
        }
    }

    #[test]
    fn wrong_key_or_aad_fails_and_names_the_record() {
        let rec = seal_to_vec(&key(1), b"dataset 1 sample 3", b"hello").unwrap();
        let mut out = [0u8; 5];
        let e = open_into(&key(2), b"dataset 1 sample 3", &rec, &mut out).unwrap_err();
        assert!(
            e.to_string().contains(&hex::encode(b"dataset 1 sample 3")),
            "{e}"
        );
        assert!(open_into(&key(1), b"dataset 1 sample 4", &rec, &mut out).is_err());
        assert!(open_into(&key(1), b"", &rec, &mut out).is_err());
        let e = open_into(&key(2), b"x", &rec, &mut out)
            .unwrap_err()
            .for_record("sample 3");
        assert!(
            e.to_string().starts_with("sample 3: authentication failed"),
            "{e}"
        );
    }

    #[test]
    fn lengths_are_checked() {
        let k = key(1);
        let mut out = [0u8; 10];
        assert!(matches!(
            seal_into(&k, b"a", b"abc", &mut out),
            Err(SealError::Length { .. })
        ));
        let rec = seal_to_vec(&k, b"a", b"abc").unwrap();
        assert!(matches!(
            open_into(&k, b"a", &rec, &mut out),
            Err(SealError::Length { .. })
        ));
        assert!(open_into(&k, b"a", &rec[..20], &mut []).is_err());
        let mut tiny = [0u8; 5];
        assert!(seal_in_place(&k, b"a", &mut tiny).is_err());
        assert!(open_in_place(&k, b"a", &mut tiny).is_err());
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key(1);
        let a = seal_to_vec(&k, b"a", b"same").unwrap();
        let b = seal_to_vec(&k, b"a", b"same").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    proptest! {
        #[test]
        fn round_trips(plain in proptest::collection::vec(any::<u8>(), 0..3000),
                       aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let k = key(3);
            let rec = seal_to_vec(&k, &aad, &plain).unwrap();
            prop_assert_eq!(open_to_vec(&k, &aad, &rec).unwrap(), plain.clone());
            // In place, both ways.
            let mut buf = vec![0u8; sealed_len(plain.len())];
            buf[NONCE_LEN..NONCE_LEN + plain.len()].copy_from_slice(&plain);
            seal_in_place(&k, &aad, &mut buf).unwrap();
            prop_assert_eq!(open_to_vec(&k, &aad, &buf).unwrap(), plain.clone());
            let mut rec2 = rec.clone();
            let opened = open_in_place(&k, &aad, &mut rec2).unwrap();
            prop_assert_eq!(&opened[..], &plain[..]);
        }
    }
}
