//! `plinius crash-test`: crash resilience (Fig. 9 of the PLINIUS paper).
//!
//! Three runs of the same training job (same cfg, data, seed), each as a
//! child `plinius train` process:
//! - **baseline**: uninterrupted;
//! - **resilient**: SIGKILLed at N random moments (each inside a random
//!   iteration, possibly inside its mirror-out) and restarted; it resumes from
//!   its mirror each time;
//! - **no mirror**: killed at the same amounts of work, but with nothing to
//!   resume from (its pool is removed at each restart and it never mirrors
//!   before the end), so it starts over each time.
//!
//! Outputs: the loss per iteration of every run (CSV), the three loss curves
//! against the iterations executed (PNG), a table, and the check that the
//! resilient run's final state (weights, biases, BN statistics, momentum,
//! RNG states, data cursor) is bit-identical to the baseline's. The command
//! fails if it is not, or if a completed iteration was lost.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::csv::CsvWriter;
use crate::experiment::MirrorArg;
use crate::experiment::{DataArgs, TrainChild, Workspace, out_dir, state_digest};
use crate::plot::{LineChart, Series};
use host::supervisor::{
    KillPoint, RunRecord, SplitMix64, lost_iterations, random_kill_points, run_with_kills,
};

/// Arguments of `plinius crash-test`.
#[derive(clap::Args, Debug, Clone)]
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

/// One variant's runs.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Its name (baseline, resilient, no-mirror).
    pub name: &'static str,
    /// Its runs, in order.
    pub runs: Vec<RunRecord>,
    /// Wall time of all its runs.
    pub wall: Duration,
}

impl Variant {
    /// Iterations executed (completed rows) across runs.
    pub fn work(&self) -> u64 {
        self.runs.iter().map(|r| r.trained().count() as u64).sum()
    }

    /// Kills.
    pub fn kills(&self) -> usize {
        self.runs.iter().filter(|r| r.killed).count()
    }

    /// The loss curve against iterations executed.
    pub fn curve(&self) -> Vec<(u64, u64, usize, f64)> {
        let mut w = 0;
        let mut out = Vec::new();
        for r in &self.runs {
            for row in r.trained() {
                w += 1;
                out.push((w, row.iteration, r.run, row.loss));
            }
        }
        out
    }
}

fn hex8(d: &[u8; 32]) -> String {
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `plinius crash-test`.
pub fn run(a: CrashTestArgs) -> Result<()> {
    if a.iterations < 2 {
        bail!("--iterations must be at least 2");
    }
    if !a.cfg.is_file() {
        bail!("{}: no such model cfg", a.cfg.display());
    }
    out_dir(&a.out)?;
    let t_all = Instant::now();
    println!("preparing: owner key, sealed dataset, simulated platform");
    let ws = Workspace::prepare(&a.data, &a.out)?;
    let child =
        TrainChild::mirroring_each_iteration(&a.cfg, a.iterations, a.mirror, a.seed, a.threads);
    let timeout = Duration::from_secs(a.timeout);
    let csv = |name: &str, run: usize| a.out.join(format!("{name}-run{run}.csv"));

    // Baseline.
    println!("baseline: {} iterations uninterrupted", a.iterations);
    let t = Instant::now();
    let base_runs = run_with_kills(
        &mut |run| {
            Ok((
                child.spec(&ws, "baseline", &csv("baseline", run), "baseline")?,
                csv("baseline", run),
            ))
        },
        &[],
        timeout,
        |_| {},
    )?;
    let baseline = Variant {
        name: "baseline",
        runs: base_runs,
        wall: t.elapsed(),
    };
    let per_iter = baseline.wall.div_f64(a.iterations as f64);

    // Resilient.
    let mut rng = SplitMix64(a.kill_seed);
    let points = random_kill_points(&mut rng, a.kills, a.iterations, per_iter)?;
    println!(
        "resilient: {} SIGKILLs after iterations {:?} (+ a random delay below {:.0} ms each)",
        a.kills,
        points.iter().map(|p| p.after_iteration).collect::<Vec<_>>(),
        per_iter.as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let res_runs = run_with_kills(
        &mut |run| {
            Ok((
                child.spec(&ws, "resilient", &csv("resilient", run), "resilient")?,
                csv("resilient", run),
            ))
        },
        &points,
        timeout,
        |r| report_run("resilient", r),
    )?;
    let resilient = Variant {
        name: "resilient",
        runs: res_runs,
        wall: t.elapsed(),
    };

    // No mirror: the same amounts of work between kills, from scratch each time.
    let nomirror = if a.skip_no_mirror {
        None
    } else {
        let mut prev = 0;
        let gaps: Vec<KillPoint> = points
            .iter()
            .map(|p| {
                let g = KillPoint {
                    after_iteration: (p.after_iteration - prev).max(1),
                    delay: p.delay,
                };
                prev = p.after_iteration;
                g
            })
            .collect();
        println!(
            "no mirror: killed after {:?} iterations of each run, restarting from scratch",
            gaps.iter().map(|p| p.after_iteration).collect::<Vec<_>>()
        );
        let nm = TrainChild {
            mirror_every: a.iterations + 1,
            ..child.clone()
        };
        let t = Instant::now();
        let runs = run_with_kills(
            &mut |run| {
                ws.remove_pool("nomirror")?;
                Ok((
                    nm.spec(&ws, "nomirror", &csv("nomirror", run), "nomirror")?,
                    csv("nomirror", run),
                ))
            },
            &gaps,
            timeout,
            |r| report_run("no mirror", r),
        )?;
        Some(Variant {
            name: "no-mirror",
            runs,
            wall: t.elapsed(),
        })
    };

    // Final states.
    let (d_base, it_base) = state_digest(&ws, &ws.pool("baseline"))?;
    let (d_res, it_res) = state_digest(&ws, &ws.pool("resilient"))?;
    let d_nm = match &nomirror {
        Some(_) => Some(state_digest(&ws, &ws.pool("nomirror"))?),
        None => None,
    };

    let variants: Vec<&Variant> = [Some(&baseline), Some(&resilient), nomirror.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    write_outputs(&a.out, &variants)?;

    println!();
    println!(
        "{:<10} {:>5} {:>6} {:>10} {:>10} {:>10} {:>9}  state digest",
        "variant", "runs", "kills", "executed", "lost", "final", "wall s"
    );
    for (v, d) in variants
        .iter()
        .zip([Some((d_base, it_base)), Some((d_res, it_res)), d_nm])
    {
        let (d, _) = d.expect("a digest per variant");
        println!(
            "{:<10} {:>5} {:>6} {:>10} {:>10} {:>10.4} {:>9.1}  {}",
            v.name,
            v.runs.len(),
            v.kills(),
            v.work(),
            lost_iterations(&v.runs),
            v.runs
                .iter()
                .rev()
                .find_map(|r| r.rows.last())
                .map_or(f64::NAN, |r| r.loss),
            v.wall.as_secs_f64(),
            hex8(&d)
        );
    }
    println!(
        "\noutputs in {}: crash_test.csv, crash_test_runs.csv, crash_test.png (total {:.1} s)",
        a.out.display(),
        t_all.elapsed().as_secs_f64()
    );
    if it_base != a.iterations || it_res != a.iterations {
        bail!(
            "the runs ended at iterations {it_base} (baseline) and {it_res} (resilient), not {}",
            a.iterations
        );
    }
    let lost = lost_iterations(&resilient.runs);
    if lost > 0 {
        bail!("the resilient run lost {lost} completed iterations across its restarts");
    }
    if d_base != d_res {
        bail!(
            "the resilient run's final state differs from the baseline's ({} vs {})",
            hex8(&d_res),
            hex8(&d_base)
        );
    }
    println!(
        "final weights, momentum and RNG states of the resilient run ({} kills) are IDENTICAL to the baseline's",
        resilient.kills()
    );
    Ok(())
}

fn report_run(name: &str, r: &RunRecord) {
    let what = if r.killed { "SIGKILLed" } else { "finished" };
    match (r.resumed_from(), r.last()) {
        (Some(f), Some(l)) => println!(
            "  {name} run {}: iterations {}..{l}, {what} after {:.1} s",
            r.run,
            f + 1,
            r.wall.as_secs_f64()
        ),
        _ => println!(
            "  {name} run {}: no iteration completed, {what} after {:.1} s",
            r.run,
            r.wall.as_secs_f64()
        ),
    }
}

fn write_outputs(out: &Path, variants: &[&Variant]) -> Result<()> {
    let mut w = CsvWriter::create(
        out.join("crash_test.csv"),
        &["variant", "run", "executed", "iteration", "loss"],
    )?;
    let mut series = Vec::new();
    for v in variants {
        let c = v.curve();
        for &(work, it, run, loss) in &c {
            w.row(&[&v.name, &run, &work, &it, &loss])?;
        }
        let label = match v.name {
            "resilient" => format!(
                "resilient ({} SIGKILLs; its curve covers the baseline's)",
                v.kills()
            ),
            "no-mirror" => format!("no mirror ({} SIGKILLs, restarts from scratch)", v.kills()),
            n => n.to_string(),
        };
        series.push(Series::new(
            label,
            c.iter().map(|&(work, _, _, l)| (work as f64, l)).collect(),
        ));
    }
    w.finish()?;
    let mut r = CsvWriter::create(
        out.join("crash_test_runs.csv"),
        &[
            "variant",
            "run",
            "killed",
            "resumed_from",
            "last_iteration",
            "wall_s",
        ],
    )?;
    for v in variants {
        for run in &v.runs {
            let from = run.resumed_from().map_or(String::new(), |x| x.to_string());
            let last = run.last().map_or(String::new(), |x| x.to_string());
            r.row(&[
                &v.name,
                &run.run,
                &run.killed,
                &from,
                &last,
                &format!("{:.3}", run.wall.as_secs_f64()),
            ])?;
        }
    }
    r.finish()?;
    LineChart {
        title: "Crash resilience: training loss with SIGKILLs (Fig. 9)".into(),
        x_label: "iterations executed".into(),
        y_label: "loss".into(),
        series,
        markers: false,
        ..Default::default()
    }
    .save_png(out.join("crash_test.png"))
}
