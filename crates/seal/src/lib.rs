//! Sealing, keys, attestation and key provisioning for Plinius.
//!
//! - [`record`]: AES-256-GCM records `nonce ‖ ciphertext ‖ tag` with required
//!   associated data, sealed into and opened from caller slices (persistent
//!   memory, memory maps) without extra copies; [`chunked`]: buffers of any
//!   size, each chunk bound to its index and the chunk count.
//! - [`key`]: 256-bit keys, HKDF subkeys per use, the owner's [`KeyBundle`];
//!   zeroised on drop, never printed. [`keyfile`]: the owner's key file format.
//! - [`dataset`]: the sealed dataset file format and its reader.
//! - [`evidence`]: the attestation seam ([`evidence::EvidenceProvider`],
//!   [`evidence::verify`]) with the `sim` and `tsm` back-ends.
//! - [`provision`]: HPKE (RFC 9180) delivery of the key bundle to an attested
//!   enclave key, bound to the verifier's nonce.
//! - [`stream`]: chunked sealing into cold memory (persistent memory) with
//!   non-temporal stores.
//! - [`platform`]: the simulated platform (signing key and sealing secret) and
//!   sealing to the platform for restarts.
//!
//! No file, socket, process or environment I/O: the host reads and writes
//! these formats' files (`hostio`).
// Unit tests may do I/O (temporary files, printing).
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        clippy::disallowed_macros
    )
)]
#![warn(missing_docs)]

pub mod chunked;
pub mod dataset;
pub mod error;
pub mod evidence;
pub mod key;
pub mod keyfile;
pub mod platform;
pub mod provision;
pub mod record;
pub mod stream;

pub use chunked::{
    CHUNK_SIZE, chunked_sealed_len, open_chunked_into, open_chunked_to_vec, seal_chunked_into,
    seal_chunked_to_vec,
};
pub use error::{Result, SealError};
pub use key::{DatasetKey, Key256, KeyBundle, ModelKey, SealKey};
pub use record::{
    OVERHEAD, open_in_place, open_into, open_to_vec, seal_in_place, seal_into, seal_to_vec,
    sealed_len,
};
