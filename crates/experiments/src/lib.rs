//! The paper's figures and ours as a library: SPS, mirror, decrypt, seal,
//! training speed, the pipeline, the crash test and spot-trace training.
//!
//! Each experiment takes a typed options struct and returns a report (whose
//! `Display` is the table the command line prints); progress lines, if any,
//! go to a callback as the experiment runs. CSV and PNG outputs are written
//! by the experiment (into its output directory) or by the report's
//! `write_*` methods. Nothing here parses arguments or prints.
//!
//! | module | what |
//! |---|---|
//! | [`sps`] | SPS: random swaps in a persistent array (Fig. 6) |
//! | [`seal_speed`] | AES-256-GCM seal/open throughput |
//! | [`train_speed`] | training speed of a model |
//! | [`pipeline`] | the plain step, sealed-batch loading and mirror-out per mode |
//! | [`mirror`] | save/restore of the sealed model: PM mirror vs ssd (Fig. 7, Table I) |
//! | [`decrypt`] | training on sealed vs plain batches (Fig. 8) |
//! | [`crash_test`] | SIGKILLed training against an uninterrupted run (Fig. 9) |
//! | [`spot`] | training on a spot instance replaying a trace (Fig. 10); [`spot_child`], [`spot_outputs`], [`spot_report`] |
//! | [`trace`], [`replay`] | spot traces and their replay |
//! | [`stats`], [`csv`], [`plot`] | median, CPU clocks, RNGs; CSV; PNG charts |
//! | [`pools`], [`in_process`], [`workspace`] | pools, in-process keys and data, child-process workspace |

#![warn(missing_docs)]

pub mod crash_test;
pub mod csv;
pub mod decrypt;
pub mod error;
pub mod in_process;
pub mod mirror;
pub mod pipeline;
pub mod plot;
pub mod pools;
pub mod replay;
pub mod seal_speed;
pub mod spot;
pub mod spot_child;
pub mod spot_outputs;
pub mod spot_report;
pub mod sps;
pub mod stats;
pub mod trace;
pub mod train_speed;
pub mod workspace;

pub use error::{ExperimentError, Result};

/// Where an experiment reports progress as it runs: one line of text per
/// call (the command line prints them).
pub type Progress<'a> = &'a mut dyn FnMut(&str);
