//! `plinius inspect --pool PATH`: what a pool file holds, without a key and
//! without modifying it (see `host::inspect`).

use std::path::PathBuf;

use clap::Args;

use super::args::CheckpointArg;

/// Arguments of `plinius inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// The pool file.
    #[arg(long)]
    pub pool: PathBuf,
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
}

/// `plinius inspect`.
pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    let ckpt = a
        .checkpoint
        .checkpoint
        .unwrap_or_else(|| host::ckpt::default_checkpoint(&a.pool));
    let r = host::inspect::inspect(&a.pool, &ckpt)?;
    print!("{}", host::inspect::render(&a.pool, &r));
    Ok(())
}
