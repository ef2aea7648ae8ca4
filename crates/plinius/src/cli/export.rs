//! `plinius export`: the model of a training job's pool, sealed for its owner.

use std::path::PathBuf;

use clap::Args;
use host::export::{ExportOptions, export_model, summary};
use host::job::JobOptions;

use super::args::{CheckpointArg, ForceArg, PlatformArg};
use super::progress::Bars;

/// Arguments of `plinius export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The training job's pool file.
    #[arg(long)]
    pub pool: PathBuf,
    /// Where to write the sealed model (only the owner's model key opens it).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    #[command(flatten)]
    pub platform: PlatformArg,
    #[command(flatten)]
    pub force: ForceArg,
    /// Development shortcut: the owner's key file, used only if the keys
    /// sealed in the pool do not unseal here (another platform or enclave build).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// `plinius export`.
pub fn run(a: ExportArgs) -> anyhow::Result<()> {
    let o = ExportOptions {
        job: JobOptions {
            pool: a.pool.clone(),
            checkpoint: a.checkpoint.checkpoint,
            platform: a.platform.platform,
            threads: None,
        },
        out: a.out.clone(),
        force: a.force.force,
        key: a.key,
    };
    let sealed = export_model(&o, &mut Bars::new(true))?;
    println!("{}", summary(&a.pool, &a.out, &sealed));
    Ok(())
}
