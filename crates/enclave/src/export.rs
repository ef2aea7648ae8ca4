//! The model exported for its owner: Darknet `.weights` bytes sealed with the
//! model key's export subkey. Only the owner (who holds the model key) opens
//! it, with [`open_exported`].
//!
//! ```text
//! offset  field
//!      0  magic "PLMODEL\0"
//!      8  format version (u32 LE)
//!     12  reserved (0)
//!     16  model fingerprint (32 bytes)
//!     48  iteration (u64 LE)
//!     56  seen (u64 LE)
//!     64  .weights length (u64 LE)
//!     72  reserved (0)
//!     80  the .weights bytes, chunked sealed; associated data = bytes 0..80
//! ```

use crate::error::{EnclaveError, Result};
use seal::{ModelKey, SealKey, chunked_sealed_len, open_chunked_into, seal_chunked_into};
use zeroize::Zeroizing;

/// Magic at the start of an exported model.
pub const EXPORT_MAGIC: [u8; 8] = *b"PLMODEL\0";
/// Format version of an exported model.
pub const EXPORT_VERSION: u32 = 1;
/// Bytes of the plain export header (also the associated data).
pub const EXPORT_HEADER_LEN: usize = 80;
/// Magic and version of an exported model.
const HEADER: wire::Header = wire::Header {
    magic: &EXPORT_MAGIC,
    width: wire::VersionWidth::U32,
    version: EXPORT_VERSION,
    min_len: EXPORT_HEADER_LEN,
    foreign: "not a Plinius exported model (bad magic)",
    label: "export format version",
};

/// An exported model, opened by its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedModel {
    /// The model fingerprint (SHA-256 of the canonical cfg).
    pub fingerprint: [u8; 32],
    /// Training iterations done.
    pub iteration: u64,
    /// Images seen.
    pub seen: u64,
    /// The Darknet `.weights` file contents (the plaintext model: cleared
    /// when dropped).
    pub weights: Zeroizing<Vec<u8>>,
}

pub(crate) fn seal_export(
    key: &SealKey,
    fingerprint: &[u8; 32],
    iteration: u64,
    seen: u64,
    weights: &[u8],
) -> Result<Vec<u8>> {
    let mut w = wire::Writer::with_capacity(EXPORT_HEADER_LEN);
    HEADER.write(&mut w);
    w.u32(0);
    w.bytes(fingerprint);
    w.u64(iteration);
    w.u64(seen);
    w.u64(weights.len() as u64);
    w.pad_to(EXPORT_HEADER_LEN);
    let mut out = w.into_vec();
    out.resize(EXPORT_HEADER_LEN + chunked_sealed_len(weights.len()), 0);
    let (head, body) = out.split_at_mut(EXPORT_HEADER_LEN);
    seal_chunked_into(key, head, weights, body)?;
    Ok(out)
}

/// Opens an exported model with the owner's model key. `what` names the
/// file in errors.
pub fn open_exported(model: &ModelKey, bytes: &[u8], what: &str) -> Result<ExportedModel> {
    let mut r = HEADER.check(bytes, what)?;
    r.skip(4, "reserved")?;
    let fingerprint: [u8; 32] = r.array("model fingerprint")?;
    let (iteration, seen, announced) = (
        r.u64("iteration")?,
        r.u64("seen")?,
        r.u64("weights length")?,
    );
    let len = usize::try_from(announced).ok().filter(|l| {
        *l <= bytes.len()
            && EXPORT_HEADER_LEN
                .checked_add(chunked_sealed_len(*l))
                .is_some_and(|t| t == bytes.len())
    });
    let Some(len) = len else {
        return Err(EnclaveError::layout(
            what,
            format!(
                "{} bytes, which does not match the {} bytes of weights its header announces \
                 (truncated or extended)",
                bytes.len(),
                announced
            ),
        ));
    };
    let mut weights = Zeroizing::new(vec![0u8; len]);
    open_chunked_into(
        &model.export_key(),
        &bytes[..EXPORT_HEADER_LEN],
        &bytes[EXPORT_HEADER_LEN..],
        &mut weights,
    )
    .map_err(|e| {
        EnclaveError::Seal(e.for_record(format!(
            "{what} (wrong model key, or the file was tampered with)"
        )))
    })?;
    Ok(ExportedModel {
        fingerprint,
        iteration,
        seen,
        weights,
    })
}
