//! The untrusted host of Plinius: maps pool files, imports data, runs training,
//! supervises crashes, and runs the benchmarks. The `plinius` binary is a thin
//! layer over this library; each command lives in its own module.

#![warn(missing_docs)]

pub mod benchdecrypt;
pub mod benchmirror;
pub mod benchpipeline;
pub mod benchseal;
pub mod benchtrain;
pub mod cfgcheck;
pub mod ckpt;
pub mod crashtest;
pub mod csv;
pub mod demo;
pub mod errors;
pub mod evalpool;
pub mod evidence;
pub mod experiment;
pub mod export;
pub mod import;
pub mod info;
pub mod inspect;
pub mod job;
pub mod owner;
pub mod plain;
pub mod plot;
pub mod replay;
pub mod spot;
pub mod sps;
pub mod supervisor;
pub mod trace;
pub mod train;
