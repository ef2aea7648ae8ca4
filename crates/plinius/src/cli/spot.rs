//! `plinius spot`: training on a spot instance, replaying a price or
//! availability trace, killing and resuming (Fig. 10).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use experiments::spot::{self, SpotOptions, TraceSource};
use experiments::trace::parse_duration;

use super::args::{DataArgs, MirrorModeArg, ModelArg, OutDirArg, SeedArg, ThreadsArg};

/// Arguments of `plinius spot`.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("trace").required(true).args(["price_trace", "availability_trace"])))]
pub struct SpotArgs {
    /// A price trace: CSV rows `price,index`, one per tick; the instance runs
    /// while the bid is above the price.
    #[arg(long, requires = "bid")]
    pub price_trace: Option<PathBuf>,
    /// The bid (price per hour) for --price-trace.
    #[arg(long)]
    pub bid: Option<f64>,
    /// Tick length of --price-trace (e.g. 5m, 300, 1h).
    #[arg(long, default_value = "5m")]
    pub step: String,
    /// An availability trace: JSON {"metadata":{"gap_seconds":N},"data":[0|1,...]}.
    #[arg(long)]
    pub availability_trace: Option<PathBuf>,
    /// First tick of the trace to replay.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Replay at most this many ticks.
    #[arg(long)]
    pub ticks: Option<usize>,
    /// Trace seconds per wall second (300: a 5-minute tick takes one second).
    #[arg(long, default_value_t = 300.0)]
    pub speedup: f64,
    /// Do not wait out outages (nothing runs during them); trace time still counts them.
    #[arg(long)]
    pub skip_outages: bool,
    #[command(flatten)]
    pub cfg: ModelArg,
    /// Training iterations.
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
    #[command(flatten)]
    pub mirror: MirrorModeArg,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Skip the uninterrupted run used to compare wall times.
    #[arg(long)]
    pub no_baseline: bool,
    #[command(flatten)]
    pub out: OutDirArg,
    #[command(flatten)]
    pub data: DataArgs,
}

/// The trace the arguments name (clap makes sure there is one, and a bid
/// with a price trace).
fn trace_source(a: &SpotArgs) -> Result<TraceSource> {
    match (&a.price_trace, a.bid, &a.availability_trace) {
        (Some(p), Some(bid), None) => Ok(TraceSource::Price {
            path: p.clone(),
            bid,
            tick_seconds: parse_duration(&a.step).map_err(|e| anyhow!("--step: {e}"))?,
        }),
        (None, _, Some(j)) => Ok(TraceSource::Availability(j.clone())),
        _ => Err(anyhow!(
            "give --price-trace with --bid, or --availability-trace"
        )),
    }
}

/// Runs `plinius spot`.
pub fn run(a: SpotArgs) -> Result<()> {
    let opts = SpotOptions {
        trace: trace_source(&a)?,
        start: a.start,
        ticks: a.ticks,
        speedup: a.speedup,
        skip_outages: a.skip_outages,
        cfg: a.cfg.cfg,
        iterations: a.iterations,
        mirror: a.mirror.mode(),
        seed: a.seed.seed,
        threads: a.threads.threads,
        baseline: !a.no_baseline,
        out: a.out.out,
        data: a.data.into(),
    };
    let report = spot::run(&opts, &mut |l| println!("{l}"))?;
    print!("{report}");
    report.check()?;
    Ok(())
}
