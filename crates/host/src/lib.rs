//! The untrusted host of Plinius as a library: pool files, dataset import,
//! training jobs, the ssd checkpoint, evaluation, export, inspection, the
//! supervisor of child runs and the evidence back-ends.

#![warn(missing_docs)]

pub mod cfgcheck;
pub mod ckpt;
pub mod demo;
pub mod errors;
pub mod evalpool;
pub mod evidence;
pub mod export;
pub mod import;
pub mod info;
pub mod inspect;
pub mod job;
pub mod owner;
pub mod plain;
pub mod supervisor;
pub mod train;
