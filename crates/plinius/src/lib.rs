//! The untrusted host of Plinius: maps pool files, imports data, runs training,
//! supervises crashes, and runs the benchmarks. The `plinius` binary is a thin
//! layer over this library; each command lives in its own module.

pub mod benchseal;
pub mod benchtrain;
pub mod cfgcheck;
pub mod csv;
pub mod evidence;
pub mod info;
pub mod owner;
pub mod plain;
pub mod plot;
pub mod replay;
pub mod sps;
pub mod supervisor;
pub mod trace;
