//! File I/O for the trusted crates' formats. The trusted crates (`wire`,
//! `ptm` without its `file` feature, `nn`, `seal`, `enclave`) encode and
//! decode bytes; this crate, on the host side, reads and writes the files:
//!
//! - [`fs`]: secret files (0600), public files, and the one durable atomic
//!   write ([`fs::write_atomic`]: temporary file, fsync, rename, fsync the
//!   directory; [`fs::write_atomic_timed`] with per-step timings,
//!   [`fs::write_atomic_with`] for a file streamed out piece by piece).
//! - [`keyfile`]: the owner's key file on disk (format: [`seal::keyfile`]).
//! - [`platform`]: the simulated platform's directory ([`platform::SimPlatform`]).
//! - [`tsm`]: configfs-tsm attestation reports ([`tsm::TsmProvider`]).
//! - [`idx`]: MNIST IDX files (raw or gzip) from a directory.
//! - [`weights`]: Darknet `.weights` files.
#![warn(missing_docs)]

pub mod fs;
pub mod idx;
pub mod keyfile;
pub mod platform;
pub mod tsm;
pub mod weights;
