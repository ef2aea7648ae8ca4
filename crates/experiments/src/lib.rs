//! The paper's figures and ours: SPS, mirror, decrypt, seal, training speed,
//! the pipeline, the crash test and spot-trace training, each writing a table,
//! CSV and a PNG plot.

#![warn(missing_docs)]

pub mod benchdecrypt;
pub mod benchmirror;
pub mod benchpipeline;
pub mod benchseal;
pub mod benchtrain;
pub mod crashtest;
pub mod csv;
pub mod experiment;
pub mod plot;
pub mod replay;
pub mod spot;
pub mod sps;
pub mod trace;
