//! `plinius crash-test`: SIGKILL training N times, resume, compare with an
//! uninterrupted run (Fig. 9).

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use experiments::crash_test::{self, CrashTestOptions};

use super::args::{DataArgs, MirrorModeArg, ModelArg, OutDirArg, SeedArg, ThreadsArg};

/// Arguments of `plinius crash-test`.
#[derive(Args, Debug, Clone)]
pub struct CrashTestArgs {
    #[command(flatten)]
    pub cfg: ModelArg,
    /// SIGKILLs of the resilient (and the no-mirror) run.
    #[arg(long, default_value_t = 5)]
    pub kills: usize,
    /// Training iterations.
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    #[command(flatten)]
    pub mirror: MirrorModeArg,
    #[command(flatten)]
    pub seed: SeedArg,
    /// Seed of the kill moments.
    #[arg(long, default_value_t = 7)]
    pub kill_seed: u64,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Skip the no-mirror run.
    #[arg(long)]
    pub skip_no_mirror: bool,
    /// Give up when a run makes no progress for this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub out: OutDirArg,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `plinius crash-test`.
pub fn run(a: CrashTestArgs) -> Result<()> {
    let opts = CrashTestOptions {
        cfg: a.cfg.cfg,
        kills: a.kills,
        iterations: a.iterations,
        mirror: a.mirror.mode(),
        seed: a.seed.seed,
        kill_seed: a.kill_seed,
        threads: a.threads.threads,
        skip_no_mirror: a.skip_no_mirror,
        timeout: Duration::from_secs(a.timeout),
        out: a.out.out,
        data: a.data.into(),
    };
    let report = crash_test::run(&opts, &mut |l| println!("{l}"))?;
    print!("{report}");
    println!("{}", report.check()?);
    Ok(())
}
