//! `plinius spot`: training on spot instances (Fig. 10 of the PLINIUS paper).
//!
//! A spot trace is replayed against a real training job: the job runs as a
//! child `plinius train` process while the instance is up and is SIGKILLed at
//! each up→down transition (the instance is taken away); when the instance is
//! back, the job is started again and resumes from its mirror. Trace time is
//! compressed by `--speedup` (default 300: a 5-minute tick takes a second).
//!
//! Outputs: `spot.csv` (trace time, running, iteration, loss), `spot.png`
//! (the loss over the instance's state), `spot_summary.csv`, and a summary:
//! interruptions, completed iterations lost (none: at most the one in flight
//! at each kill is redone), trace-dollar cost, and wall time against an
//! uninterrupted run.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::csv::CsvWriter;
use crate::experiment::MirrorArg;
use crate::experiment::{DataArgs, TrainChild, Workspace, out_dir};
use crate::plot::{Panel, PanelChart, Series};
use crate::replay::{Job, Phase, Replay};
use crate::trace::{Trace, parse_duration};
use host::supervisor::{
    KillOutcome, RunRecord, Running, lost_iterations, read_loss_csv, run_with_kills,
};

/// Arguments of `plinius spot`.
#[derive(clap::Args, Debug, Clone)]
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
    /// The model.
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
    /// Training iterations.
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
    /// Mirror mode.
    #[arg(long, value_enum, default_value = "romulus")]
    pub mirror: MirrorArg,
    /// Seed of the training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads of the training process.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the uninterrupted run used to compare wall times.
    #[arg(long)]
    pub no_baseline: bool,
    /// Output directory (CSV, PNG, child logs).
    #[arg(long)]
    pub out: PathBuf,
    /// Data and pools.
    #[command(flatten)]
    pub data: DataArgs,
}

/// The training job under the replay: a child `plinius train` per up interval.
struct SpotJob<'a> {
    ws: &'a Workspace,
    child: TrainChild,
    out: PathBuf,
    t0: Instant,
    running: Option<Running>,
    seen_rows: usize,
    runs: Vec<RunRecord>,
    /// (wall time since the start of the replay, iteration, loss) of every row
    /// as the supervisor saw it appear.
    observed: Vec<(Duration, u64, f64)>,
}

impl SpotJob<'_> {
    fn csv(&self) -> PathBuf {
        self.out.join(format!("spot-run{}.csv", self.runs.len()))
    }

    fn poll_rows(&mut self) -> Result<()> {
        let rows = read_loss_csv(&self.csv())?;
        let now = self.t0.elapsed();
        for r in &rows[self.seen_rows.min(rows.len())..] {
            if !r.restored {
                self.observed.push((now, r.iteration, r.loss));
            }
        }
        self.seen_rows = rows.len();
        Ok(())
    }

    fn end_run(&mut self, killed: bool, started: Instant) -> Result<()> {
        self.poll_rows()?;
        let r = RunRecord {
            run: self.runs.len(),
            killed,
            wall: started.elapsed(),
            rows: read_loss_csv(&self.csv())?,
        };
        let what = if killed { "killed" } else { "finished" };
        match (r.resumed_from(), r.last()) {
            (Some(f), Some(l)) => println!(
                "  run {}: iterations {}..{l}, {what} after {:.1} s",
                r.run,
                f + 1,
                r.wall.as_secs_f64()
            ),
            _ => println!(
                "  run {}: no iteration completed, {what} after {:.1} s",
                r.run,
                r.wall.as_secs_f64()
            ),
        }
        self.runs.push(r);
        self.seen_rows = 0;
        Ok(())
    }

    fn sleep_until(&self, wall: Duration) {
        let now = self.t0.elapsed();
        if wall > now {
            std::thread::sleep(wall - now);
        }
    }
}

impl Job for SpotJob<'_> {
    fn start(&mut self, now: Duration) -> Result<()> {
        self.sleep_until(now);
        let spec = self.child.spec(self.ws, "spot", &self.csv(), "spot")?;
        self.running = Some(spec.spawn()?);
        self.seen_rows = 0;
        Ok(())
    }

    fn run_until(&mut self, deadline: Duration) -> Result<Option<Duration>> {
        loop {
            let now = self.t0.elapsed();
            let step = (now + Duration::from_millis(10)).min(deadline);
            let run = self.running.as_mut().expect("started");
            let status = run.wait_until(self.t0 + step)?;
            if let Some(s) = status {
                let done = self.t0.elapsed();
                let run = self.running.take().expect("started");
                run.check(s)?;
                self.end_run(false, run.started)?;
                return Ok(Some(done));
            }
            self.poll_rows()?;
            if step >= deadline {
                return Ok(None);
            }
        }
    }

    fn kill(&mut self) -> Result<()> {
        let run = self.running.take().expect("started");
        let started = run.started;
        let outcome = run.kill()?;
        let killed = match outcome {
            KillOutcome::Killed => true,
            KillOutcome::AlreadyExited(s) if s.success() => false,
            KillOutcome::AlreadyExited(s) => {
                bail!("the training process failed ({s}); see its log")
            }
        };
        self.end_run(killed, started)
    }

    fn idle_until(&mut self, deadline: Duration) -> Result<()> {
        self.sleep_until(deadline);
        Ok(())
    }
}

/// Trace time (seconds since the start of the replay) of wall time `w`: inside
/// the up phase that contains it (clamped to that phase).
fn trace_time(phases: &[Phase], speedup: f64, w: Duration) -> f64 {
    let p = phases
        .iter()
        .rev()
        .find(|p| p.up && p.wall_start <= w)
        .or_else(|| phases.iter().find(|p| p.up))
        .expect("a replay that ran has an up phase");
    let into = w
        .saturating_sub(p.wall_start)
        .min(p.wall_end - p.wall_start);
    p.trace_start + into.as_secs_f64() * speedup
}

/// The summary of a spot run.
#[derive(Debug, Clone)]
pub struct SpotSummary {
    /// Interruptions (kills at up→down transitions).
    pub interruptions: usize,
    /// Up→down transitions in the replayed part of the trace.
    pub transitions: usize,
    /// Completed iterations redone after a restart (must be 0).
    pub lost: u64,
}

/// Runs `plinius spot`.
pub fn run(a: SpotArgs) -> Result<()> {
    let full = match (&a.price_trace, &a.availability_trace) {
        (Some(p), None) => {
            let step = parse_duration(&a.step).map_err(|e| anyhow::anyhow!("--step: {e}"))?;
            Trace::load_price_csv(p, a.bid.expect("clap requires --bid"), step)?
        }
        (None, Some(j)) => Trace::load_availability_json(j)?,
        _ => bail!("give exactly one of --price-trace and --availability-trace"),
    };
    if a.start >= full.len() {
        bail!(
            "{}: --start {} is past the end of the trace ({} ticks)",
            full.source,
            a.start,
            full.len()
        );
    }
    let end = a
        .ticks
        .map_or(full.len(), |t| a.start.saturating_add(t).min(full.len()));
    // The replay sees ticks start..end (numbered as in the whole trace).
    let trace = full.window(0..end);
    let replay = Replay::new(&trace, a.start, a.speedup, a.skip_outages)?;
    if !a.cfg.is_file() {
        bail!("{}: no such model cfg", a.cfg.display());
    }
    out_dir(&a.out)?;
    let tick = trace.tick_seconds;
    println!(
        "trace {}: {} ticks of {} s replayed from tick {} ({} up→down transitions in them), speedup {}x{}",
        full.source,
        end - a.start,
        tick,
        a.start,
        trace.up_down_transitions(a.start..end),
        a.speedup,
        if a.skip_outages {
            ", outages skipped"
        } else {
            ""
        }
    );
    println!("preparing: owner key, sealed dataset, simulated platform");
    let ws = Workspace::prepare(&a.data, &a.out)?;
    let child =
        TrainChild::mirroring_each_iteration(&a.cfg, a.iterations, a.mirror, a.seed, a.threads);
    let baseline_wall = if a.no_baseline {
        None
    } else {
        println!("uninterrupted run: {} iterations", a.iterations);
        let t = Instant::now();
        let csv = a.out.join("spot-baseline.csv");
        run_with_kills(
            &mut |_| {
                Ok((
                    child.spec(&ws, "baseline", &csv, "spot-baseline")?,
                    csv.clone(),
                ))
            },
            &[],
            Duration::from_secs(3600),
            |_| {},
        )?;
        Some(t.elapsed())
    };
    println!("replaying the trace");
    let mut job = SpotJob {
        ws: &ws,
        child,
        out: a.out.clone(),
        t0: Instant::now(),
        running: None,
        seen_rows: 0,
        runs: Vec::new(),
        observed: Vec::new(),
    };
    let o = replay.run(&mut job)?;
    let phases = replay.phases();
    let transitions = trace.up_down_transitions(o.replayed.clone());
    let lost = lost_iterations(&job.runs);
    let kills = job.runs.iter().filter(|r| r.killed).count();
    let completed = job.runs.iter().filter_map(|r| r.last()).max().unwrap_or(0);

    // Timeline: state changes and iterations, in trace time.
    let mut rows: Vec<(f64, bool, Option<u64>, Option<f64>)> = Vec::new();
    for p in &phases {
        if p.start_tick >= o.replayed.end {
            break;
        }
        rows.push((p.trace_start, p.up, None, None));
    }
    for &(w, it, loss) in &job.observed {
        rows.push((
            trace_time(&phases, a.speedup, w),
            true,
            Some(it),
            Some(loss),
        ));
    }
    rows.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut w = CsvWriter::create(
        a.out.join("spot.csv"),
        &["trace_hours", "running", "iteration", "loss"],
    )?;
    let (mut it, mut loss) = (0u64, String::new());
    for &(t, up, i, l) in &rows {
        if let Some(i) = i {
            it = i;
        }
        if let Some(l) = l {
            loss = l.to_string();
        }
        w.row(&[&format!("{:.5}", t / 3600.0), &u8::from(up), &it, &loss])?;
    }
    w.finish()?;
    let mut s = CsvWriter::create(
        a.out.join("spot_summary.csv"),
        &[
            "trace",
            "tick_seconds",
            "start_tick",
            "end_tick",
            "speedup",
            "iterations",
            "finished",
            "completed",
            "interruptions",
            "up_down_transitions",
            "starts",
            "lost_iterations",
            "trace_hours",
            "running_hours",
            "cost",
            "wall_s",
            "baseline_wall_s",
        ],
    )?;
    let cost = o.cost.map_or(String::new(), |c| format!("{c:.8}"));
    let base = baseline_wall.map_or(String::new(), |b| format!("{:.3}", b.as_secs_f64()));
    s.row(&[
        &full.source,
        &tick,
        &o.replayed.start,
        &o.replayed.end,
        &a.speedup,
        &a.iterations,
        &o.finished,
        &completed,
        &o.interruptions,
        &transitions,
        &o.starts,
        &lost,
        &format!("{:.6}", o.trace_seconds / 3600.0),
        &format!("{:.6}", o.running_seconds / 3600.0),
        &cost,
        &format!("{:.3}", o.wall.as_secs_f64()),
        &base,
    ])?;
    s.finish()?;
    plot(&a.out.join("spot.png"), &rows, &full.source)?;

    println!();
    println!(
        "ticks replayed          {}..{} (tick {} s)",
        o.replayed.start, o.replayed.end, tick
    );
    println!(
        "finished                {} ({completed} of {} iterations)",
        o.finished, a.iterations
    );
    println!(
        "interruptions           {} (up→down transitions replayed: {transitions})",
        o.interruptions
    );
    println!("starts                  {}", o.starts);
    println!("completed iterations lost {lost} (in-flight iterations redone: at most {kills})");
    println!(
        "trace time              {:.2} h, running {:.2} h",
        o.trace_seconds / 3600.0,
        o.running_seconds / 3600.0
    );
    if let Some(c) = o.cost {
        println!("cost (price x running)  {c:.4} (trace currency)");
    }
    print!("wall time               {:.1} s", o.wall.as_secs_f64());
    match baseline_wall {
        Some(b) => println!(
            " (uninterrupted run: {:.1} s; training processes ran {:.1} s)",
            b.as_secs_f64(),
            job.runs.iter().map(|r| r.wall.as_secs_f64()).sum::<f64>()
        ),
        None => println!(),
    }
    println!(
        "outputs in {}: spot.csv, spot_summary.csv, spot.png",
        a.out.display()
    );
    if o.interruptions != transitions {
        bail!(
            "{} interruptions but {transitions} up→down transitions in the replayed ticks",
            o.interruptions
        );
    }
    if lost > 0 {
        bail!("{lost} completed iterations were lost across restarts");
    }
    if !o.finished {
        bail!(
            "the trace ended after {completed} of {} iterations: replay more ticks (--start, --ticks), \
             raise --speedup or lower --iterations",
            a.iterations
        );
    }
    Ok(())
}

fn plot(path: &Path, rows: &[(f64, bool, Option<u64>, Option<f64>)], source: &str) -> Result<()> {
    let loss: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|&(t, _, i, l)| i.and(l).map(|l| (t / 3600.0, l)))
        .collect();
    let mut state: Vec<(f64, f64)> = Vec::new();
    for &(t, up, i, _) in rows {
        if i.is_some() {
            continue;
        }
        let h = t / 3600.0;
        if let Some(&(_, prev)) = state.last() {
            state.push((h, prev));
        }
        state.push((h, if up { 1.0 } else { 0.0 }));
    }
    if let (Some(&(_, v)), Some(&(t, _, _, _))) = (state.last(), rows.last()) {
        state.push((t / 3600.0, v));
    }
    let name = Path::new(source)
        .file_name()
        .map_or(source.to_string(), |n| n.to_string_lossy().into_owned());
    PanelChart {
        title: format!("Training on a spot instance: {name} (Fig. 10)"),
        x_label: "trace time (hours)".into(),
        panels: vec![
            Panel {
                y_label: "loss".into(),
                series: vec![Series::new("training loss (one dot per iteration)", loss)],
                weight: 3,
                lines: false,
                ..Default::default()
            },
            Panel {
                y_label: "instance up".into(),
                series: vec![Series::new("running", state)],
                weight: 1,
                markers: false,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
    .save_png(path)
}
