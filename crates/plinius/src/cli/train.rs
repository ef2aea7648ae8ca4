//! `plinius train`: secure, crash-resilient training (see `host::train`).
//! Killed at any moment, the same command resumes from the last mirror.

use std::path::PathBuf;

use clap::Args;
use host::job::{JobOptions, StartOptions};
use host::keys::KeySource;
use host::train::{TrainOptions, Training};

use super::args::{CheckpointArg, MirrorArg, PlatformArg, QuietArg, ThreadsArg};
use super::progress::Bars;

/// Arguments of `plinius train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// The owner's sealed training dataset (needed until it is imported into the pool).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The job's pool file (created on first use; /dev/shm or a DAX file system for PM).
    #[arg(long)]
    pub pool: PathBuf,
    /// Train until the model has done N iterations in total (default: the cfg's max_batches).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// How the model is mirrored, fixed when the pool is created (default: the
    /// pool's mode; `romulus` for a new pool).
    #[arg(long, value_enum)]
    pub mirror: Option<MirrorArg>,
    /// Mirror-out every K iterations (and after the last one).
    #[arg(long, default_value_t = 1)]
    pub mirror_every: u64,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Seed of the initial weights, dropout and batch sampling (first start only).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Development shortcut for the first start: the owner's key file; simulated
    /// evidence and provisioning run in-process.
    #[arg(long, conflicts_with = "bundle")]
    pub key: Option<PathBuf>,
    /// The key bundle the owner provisioned for this enclave (first start).
    #[arg(long, requires = "state")]
    pub bundle: Option<PathBuf>,
    /// The enclave session state written by `plinius enclave evidence` (with --bundle).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The keys `plinius enclave accept` sealed to this platform (first start).
    #[arg(long, conflicts_with_all = ["key", "bundle", "state"])]
    pub keys: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    #[command(flatten)]
    pub platform: PlatformArg,
    /// Write iteration,loss,ms per iteration here (kept across restarts).
    #[arg(long)]
    pub loss_csv: Option<PathBuf>,
    #[command(flatten)]
    pub quiet: QuietArg,
}

impl From<TrainArgs> for TrainOptions {
    fn from(a: TrainArgs) -> Self {
        TrainOptions {
            start: StartOptions {
                job: JobOptions {
                    pool: a.pool,
                    checkpoint: a.checkpoint.checkpoint,
                    platform: a.platform.platform,
                    threads: a.threads.threads,
                },
                cfg: a.cfg,
                data: a.data,
                keys: match a.keys {
                    Some(sealed) => KeySource::PlatformSealed(sealed),
                    None => KeySource::from_flags(a.key, a.bundle, a.state),
                },
                seed: a.seed,
                mirror: a.mirror.map(Into::into),
                mirror_every: a.mirror_every,
            },
            iterations: a.iterations,
            loss_csv: a.loss_csv,
        }
    }
}

/// `plinius train`.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let mut bars = Bars::new(a.quiet.quiet);
    let training = Training::start(&a.into(), &mut bars)?;
    print!("{}", training.report());
    let (start, target) = (training.iteration(), training.target());
    if start >= target {
        println!("nothing to do: the model has done {start} iterations (target {target})");
        return Ok(());
    }
    println!("{}", training.run(&mut bars)?);
    Ok(())
}
