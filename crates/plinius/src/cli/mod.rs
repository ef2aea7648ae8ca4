//! One module per command: its clap arguments, turned into the host
//! library's options, and what it prints.

pub mod args;
pub mod bench;
pub mod cfg;
pub mod crash_test;
pub mod demo;
pub mod enclave;
pub mod eval;
pub mod export;
pub mod export_weights;
pub mod info;
pub mod inspect;
pub mod owner;
pub mod progress;
pub mod spot;
pub mod train;
pub mod train_plain;
