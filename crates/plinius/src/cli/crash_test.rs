//! `plinius crash-test`: SIGKILL training N times, resume, compare with an
//! uninterrupted run (Fig. 9).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::args::MirrorArg;
use anyhow::Result;
use clap::Args;
use experiments::crash_test::{self, CrashTestOptions};
use experiments::workspace::DataOptions;

/// Options every training experiment takes.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Seal only the first N training samples (quick runs).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Where the pools go (default: a fresh directory in /dev/shm, else in the
    /// temporary directory); removed at the end.
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
}

impl From<DataArgs> for DataOptions {
    fn from(d: DataArgs) -> Self {
        DataOptions {
            mnist: d.mnist,
            limit: d.limit,
            pool_dir: d.pool_dir,
        }
    }
}

/// Arguments of `plinius crash-test`.
#[derive(Args, Debug, Clone)]
pub struct CrashTestArgs {
    /// The model.
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
    /// SIGKILLs of the resilient (and the no-mirror) run.
    #[arg(long, default_value_t = 5)]
    pub kills: usize,
    /// Training iterations.
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    /// Mirror mode of the resilient run.
    #[arg(long, value_enum, default_value = "romulus")]
    pub mirror: MirrorArg,
    /// Seed of the training (weights, sampling, dropout).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seed of the kill moments.
    #[arg(long, default_value_t = 7)]
    pub kill_seed: u64,
    /// Worker threads of the training processes.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the no-mirror run.
    #[arg(long)]
    pub skip_no_mirror: bool,
    /// Give up when a run makes no progress for this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Output directory (CSV, PNG, child logs).
    #[arg(long)]
    pub out: PathBuf,
    /// Data and pools.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `plinius crash-test`.
pub fn run(a: CrashTestArgs) -> Result<()> {
    let opts = CrashTestOptions {
        cfg: a.cfg,
        kills: a.kills,
        iterations: a.iterations,
        mirror: a.mirror.into(),
        seed: a.seed,
        kill_seed: a.kill_seed,
        threads: a.threads,
        skip_no_mirror: a.skip_no_mirror,
        timeout: Duration::from_secs(a.timeout),
        out: a.out,
        data: a.data.into(),
    };
    let report = crash_test::run(&opts, &mut |l| println!("{l}"))?;
    print!("{report}");
    println!("{}", report.check()?);
    Ok(())
}
