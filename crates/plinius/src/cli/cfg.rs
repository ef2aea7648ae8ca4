//! `plinius cfg check FILE.cfg`: a Darknet model file's layers with their
//! output shapes, the parameter count and bytes, and the model fingerprint;
//! or the error (file, line, section), exit code 2.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `plinius cfg ...`
#[derive(Subcommand, Debug)]
pub enum CfgCommand {
    /// Check a .cfg model file: layers, output shapes, parameters, fingerprint.
    Check(CheckArgs),
}

/// Arguments of `plinius cfg check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The Darknet .cfg file.
    pub file: PathBuf,
}

/// Runs `plinius cfg ...`.
pub fn run(cmd: CfgCommand) -> anyhow::Result<()> {
    match cmd {
        CfgCommand::Check(a) => {
            let m = host::cfgcheck::load_cfg(&a.file)?;
            print!("{}", host::cfgcheck::report(&m));
            Ok(())
        }
    }
}
