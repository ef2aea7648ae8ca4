//! The untrusted host of Plinius as a library: what a program embedding
//! Plinius needs to run secure, crash-resilient training jobs.
//!
//! - A job's pool: [`pool::PoolState`] (missing, unfinished, ready),
//!   [`job::Job::start`] (create or resume, import the sealed dataset,
//!   provision the keys, attach the enclave), [`train::Training`] (train
//!   with a mirror-out every K iterations), [`evaluate::eval_pool`],
//!   [`export::export_model`], [`inspect::inspect`].
//! - The pieces under a job: [`import`] (the sealed dataset file into the
//!   dataset area, by the protocol of [`enclave::dataset_area`]),
//!   [`ckpt`] (the ssd mode's checkpoint file), [`keys`], [`platform`].
//! - The owner's and the enclave's steps: [`owner`] (keys, sealed datasets,
//!   opening an exported model), [`provision`] (verify evidence, seal the
//!   keys to an enclave), [`enclave_side`] (evidence, accepting the keys).
//! - The rest of the tools: [`plaintext`] (the plaintext baseline),
//!   [`cfgcheck`], [`info`], [`demo`] (the end-to-end flow as steps),
//!   [`supervisor`] (training runs as child processes, killed and restarted).
//!
//! Nothing here prints: long operations report to a [`progress::Progress`],
//! and every error is a [`HostError`] naming what it is about.

#![warn(missing_docs)]

pub mod cfgcheck;
pub mod ckpt;
pub mod demo;
pub mod enclave_side;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod import;
pub mod info;
pub mod inspect;
pub mod job;
pub mod keys;
pub mod owner;
pub mod plaintext;
pub mod platform;
pub mod pool;
pub mod progress;
pub mod provision;
pub mod supervisor;
pub mod train;

pub use error::{HostError, Result};

/// Held by the unit tests that spawn child processes and by those that lock
/// pool files: a child holds the parent's open pool file (and its lock)
/// between its fork and its exec, which would make a sibling test's reopen
/// of its pool fail as locked.
#[cfg(test)]
pub(crate) fn fork_guard() -> std::sync::MutexGuard<'static, ()> {
    static FORK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    FORK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub use progress::{Event, NoProgress, Progress};
