//! `plinius spot`: training on spot instances (Fig. 10 of the PLINIUS paper).
//!
//! A spot trace is replayed against a real training job: the job runs as a
//! child `plinius train` process while the instance is up and is SIGKILLed at
//! each up→down transition (the instance is taken away); when the instance is
//! back, the job is started again and resumes from its mirror. Trace time is
//! compressed by a speed-up (default 300: a 5-minute tick takes a second).
//!
//! Outputs: `spot.csv` (trace time, running, iteration, loss), `spot.png`
//! (the loss over the instance's state), `spot_summary.csv`, and a summary:
//! interruptions, completed iterations lost (none: at most the one in flight
//! at each kill is redone), trace-dollar cost, and wall time against an
//! uninterrupted run.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use enclave::MirrorMode;
use host::supervisor::{lost_iterations, run_with_kills};

use crate::Progress;
use crate::error::{Result, require};
use crate::pools::out_dir;
use crate::replay::Replay;
use crate::spot_child::ChildRun;
use crate::spot_outputs::{timeline, write_plot, write_summary_csv, write_timeline_csv};
pub use crate::spot_report::SpotReport;
use crate::trace::Trace;
use crate::workspace::{DataOptions, TrainChild, Workspace};

/// The spot trace to replay.
#[derive(Debug, Clone)]
pub enum TraceSource {
    /// A price trace (CSV rows `price,index`, one per tick); the instance runs
    /// while the bid is above the price.
    Price {
        /// The CSV file.
        path: PathBuf,
        /// The bid (price per hour).
        bid: f64,
        /// Tick length in seconds.
        tick_seconds: f64,
    },
    /// An availability trace: JSON `{"metadata":{"gap_seconds":N},"data":[0|1,...]}`.
    Availability(PathBuf),
}

impl TraceSource {
    /// Loads the whole trace.
    pub fn load(&self) -> Result<Trace> {
        Ok(match self {
            TraceSource::Price {
                path,
                bid,
                tick_seconds,
            } => Trace::load_price_csv(path, *bid, *tick_seconds)?,
            TraceSource::Availability(path) => Trace::load_availability_json(path)?,
        })
    }
}

/// The settings of a spot run.
#[derive(Debug, Clone)]
pub struct SpotOptions {
    /// The trace.
    pub trace: TraceSource,
    /// First tick of the trace to replay.
    pub start: usize,
    /// Replay at most this many ticks.
    pub ticks: Option<usize>,
    /// Trace seconds per wall second (300: a 5-minute tick takes one second).
    pub speedup: f64,
    /// Do not wait out outages (nothing runs during them); trace time still counts them.
    pub skip_outages: bool,
    /// The model.
    pub cfg: PathBuf,
    /// Training iterations.
    pub iterations: u64,
    /// Mirror mode.
    pub mirror: MirrorMode,
    /// Seed of the training.
    pub seed: u64,
    /// Worker threads of the training process.
    pub threads: Option<usize>,
    /// Also time an uninterrupted run, to compare wall times.
    pub baseline: bool,
    /// Output directory (CSV, PNG, child logs).
    pub out: PathBuf,
    /// Data and pools.
    pub data: DataOptions,
}

impl SpotOptions {
    /// The defaults for `trace` (from tick 0, speed-up 300, `cfg/mnist5.cfg`,
    /// 200 iterations, romulus, seed 1, with the uninterrupted run), outputs
    /// in `out`.
    pub fn new(trace: TraceSource, out: impl Into<PathBuf>) -> Self {
        SpotOptions {
            trace,
            start: 0,
            ticks: None,
            speedup: 300.0,
            skip_outages: false,
            cfg: PathBuf::from("cfg/mnist5.cfg"),
            iterations: 200,
            mirror: MirrorMode::Romulus,
            seed: 1,
            threads: None,
            baseline: true,
            out: out.into(),
            data: DataOptions::default(),
        }
    }
}

/// The ticks to replay: `start..end` of the trace, checked.
fn replayed_ticks(a: &SpotOptions, full: &Trace) -> Result<Range<usize>> {
    require(a.start < full.len(), || {
        format!(
            "{}: --start {} is past the end of the trace ({} ticks)",
            full.source,
            a.start,
            full.len()
        )
    })?;
    let end = a
        .ticks
        .map_or(full.len(), |t| a.start.saturating_add(t).min(full.len()));
    Ok(a.start..end)
}

/// Times the uninterrupted run (`spot-baseline.csv`).
fn time_baseline(ws: &Workspace, child: &TrainChild, out: &Path) -> Result<Duration> {
    let t = Instant::now();
    let csv = out.join("spot-baseline.csv");
    run_with_kills(
        &mut |_| {
            Ok((
                child.spec(ws, "baseline", &csv, "spot-baseline")?,
                csv.clone(),
            ))
        },
        &[],
        Duration::from_secs(3600),
        |_| {},
    )?;
    Ok(t.elapsed())
}

/// Runs `plinius spot`: progress lines go to `progress`, the outputs to
/// `a.out`. Check the result with [`SpotReport::check`].
pub fn run(a: &SpotOptions, progress: Progress<'_>) -> Result<SpotReport> {
    let full = a.trace.load()?;
    let ticks = replayed_ticks(a, &full)?;
    // The replay sees ticks start..end (numbered as in the whole trace).
    let trace = full.window(0..ticks.end);
    let replay = Replay::new(&trace, a.start, a.speedup, a.skip_outages)?;
    require(a.cfg.is_file(), || {
        format!("{}: no such model cfg", a.cfg.display())
    })?;
    out_dir(&a.out)?;
    progress(&format!(
        "trace {}: {} ticks of {} s replayed from tick {} ({} up→down transitions in them), speedup {}x{}",
        full.source,
        ticks.len(),
        trace.tick_seconds,
        a.start,
        trace.up_down_transitions(ticks.clone()),
        a.speedup,
        if a.skip_outages {
            ", outages skipped"
        } else {
            ""
        }
    ));
    progress("preparing: owner key, sealed dataset, simulated platform");
    let ws = Workspace::prepare(&a.data, &a.out)?;
    let child =
        TrainChild::mirroring_each_iteration(&a.cfg, a.iterations, a.mirror, a.seed, a.threads);
    let baseline_wall = if a.baseline {
        progress(&format!("uninterrupted run: {} iterations", a.iterations));
        Some(time_baseline(&ws, &child, &a.out)?)
    } else {
        None
    };
    progress("replaying the trace");
    let mut job = ChildRun::new(&ws, child, &a.out, progress);
    let o = replay.run(&mut job)?;
    let phases = replay.phases();
    let rows = timeline(&phases, &job.observed, a.speedup, o.replayed.end);
    let report = SpotReport {
        source: full.source.clone(),
        tick_seconds: trace.tick_seconds,
        transitions: trace.up_down_transitions(o.replayed.clone()),
        lost: lost_iterations(&job.runs),
        kills: job.runs.iter().filter(|r| r.killed).count(),
        completed: job
            .runs
            .iter()
            .filter_map(host::supervisor::RunRecord::last)
            .max()
            .unwrap_or(0),
        iterations: a.iterations,
        baseline_wall,
        process_wall: job.runs.iter().map(|r| r.wall).sum(),
        out: a.out.clone(),
        outcome: o,
    };
    write_timeline_csv(&a.out.join("spot.csv"), &rows)?;
    write_summary_csv(&a.out.join("spot_summary.csv"), &report, a.speedup)?;
    write_plot(&a.out.join("spot.png"), &rows, &full.source)?;
    Ok(report)
}
