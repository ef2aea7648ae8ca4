//! The trusted core of Plinius: the enclave.
//!
//! It owns the keys ([`Keys`]), the model with its optimizer state and RNGs,
//! and the batch sampler ([`Enclave`]). The host hands it memory regions (a
//! `ptm` pool, generic over [`ptm::PmBackend`], so the same code runs on the
//! simulated PM of the crash tests) and byte slices; it does no file, socket
//! or process I/O (enforced by `clippy.toml`'s disallowed types and methods).
//! Everything it hands out is sealed: mirror images, the exported model, the
//! platform-sealed keys.
//!
//! - [`layout`]: the pool's superblock, areas and sizes (pure data; the host
//!   uses it to size pools, import datasets and inspect).
//! - [`dataset_area`]: the pool's dataset area: layout, status, the sealed
//!   dataset in place, and the crash-safe resumable import the host runs.
//! - [`image`]: the sealed mirror image format (per-record associated data).
//! - [`Enclave`]: attach (create or mirror-in), [`Enclave::train`] with
//!   mirror-out every K iterations (`romulus`, `ab`, `ssd`), evaluate, export.
//! - [`MEASUREMENT`]: the build identity of the trusted code, computed by
//!   `build.rs`: SHA-384 over the sources of every workspace crate the enclave
//!   links ([`MEASURED_CRATES`], tests excluded), `Cargo.lock` and the compiler
//!   version ([`MEASURED_RUSTC`]); what the evidence's report data binds and
//!   what platform sealing binds. It is not a hardware measurement.
//!
//! Flow of a training job on the host:
//! ```text
//! keys  = Keys::dev_provision(..) | Keys::accept(..) | Keys::from_pool(..)
//! e     = Enclave::new(keys, cfg_text, cfg_path, TrainConfig { .. })
//! plan  = e.plan(sealed_dataset_len)            // new pool: ptm::Pool::create(path, plan.pool_size(), ..)
//!         (host imports the sealed dataset into plan.dataset_area)
//! a     = e.attach(&mut pool)?                  // a.created, or resumed from a.iteration
//! e.train_until(&mut pool, n, &mut |report| ControlFlow::Continue(()))?
//! ```
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

#[cfg(target_endian = "big")]
compile_error!("the mirror format stores f32 buffers in native (little-endian) order");

pub mod dataset_area;
mod enclave;
mod error;
mod export;
pub mod image;
mod keys;
pub mod layout;
mod stats;
#[cfg(test)]
mod tests;

include!(concat!(env!("OUT_DIR"), "/measurement.rs"));

pub use enclave::{Attached, BoxError, CheckpointStore, Enclave, TrainConfig};
pub use error::{EnclaveError, Result};
pub use export::{EXPORT_MAGIC, ExportedModel, open_exported};
pub use keys::{Keys, measurement};
pub use layout::{MirrorMode, PoolPlan, Region, Superblock};
pub use stats::{IterationReport, MirrorInStats, MirrorOutStats, TrainSummary};
