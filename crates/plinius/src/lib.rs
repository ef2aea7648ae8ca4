//! The untrusted host of Plinius: maps pool files, imports data, runs training,
//! supervises crashes, and runs the benchmarks. The `plinius` binary is a thin
//! layer over this library; each command lives in its own module.

pub mod info;
pub mod owner;
