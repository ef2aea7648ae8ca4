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
//! RNG states, data cursor) is bit-identical to the baseline's
//! ([`CrashTestReport::check`] fails if it is not, or if a completed
//! iteration was lost).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use enclave::MirrorMode;
use host::supervisor::{KillPoint, RunRecord, lost_iterations, run_with_kills};

use crate::Progress;
use crate::csv::CsvWriter;
use crate::error::{ExperimentError, Result, require};
use crate::plot::{LineChart, Series};
use crate::pools::out_dir;
use crate::stats::SplitMix64;
use crate::workspace::{DataOptions, FinalState, TrainChild, Workspace, describe_run};

/// The settings of the crash test.
#[derive(Debug, Clone)]
pub struct CrashTestOptions {
    /// The model.
    pub cfg: PathBuf,
    /// SIGKILLs of the resilient (and the no-mirror) run.
    pub kills: usize,
    /// Training iterations.
    pub iterations: u64,
    /// Mirror mode of the resilient run.
    pub mirror: MirrorMode,
    /// Seed of the training (weights, sampling, dropout).
    pub seed: u64,
    /// Seed of the kill moments.
    pub kill_seed: u64,
    /// Worker threads of the training processes.
    pub threads: Option<usize>,
    /// Skip the no-mirror run.
    pub skip_no_mirror: bool,
    /// Give up when a run makes no progress for this long.
    pub timeout: Duration,
    /// Output directory (CSV, PNG, child logs).
    pub out: PathBuf,
    /// Data and pools.
    pub data: DataOptions,
}

impl CrashTestOptions {
    /// The defaults (`cfg/mnist5.cfg`, 5 kills in 300 iterations, romulus,
    /// seeds 1 and 7, 600 s timeout), outputs in `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        CrashTestOptions {
            cfg: PathBuf::from("cfg/mnist5.cfg"),
            kills: 5,
            iterations: 300,
            mirror: MirrorMode::Romulus,
            seed: 1,
            kill_seed: 7,
            threads: None,
            skip_no_mirror: false,
            timeout: Duration::from_secs(600),
            out: out.into(),
            data: DataOptions::default(),
        }
    }
}

/// One point of a variant's loss curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Iterations executed so far across runs (redone ones count again).
    pub executed: u64,
    /// The model's iteration.
    pub iteration: u64,
    /// The run it happened in.
    pub run: usize,
    /// Its loss.
    pub loss: f64,
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
    /// The training state it ended with.
    pub end: FinalState,
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
    pub fn curve(&self) -> Vec<CurvePoint> {
        let mut executed = 0;
        let mut out = Vec::new();
        for r in &self.runs {
            for row in r.trained() {
                executed += 1;
                out.push(CurvePoint {
                    executed,
                    iteration: row.iteration,
                    run: r.run,
                    loss: row.loss,
                });
            }
        }
        out
    }

    /// The loss of the last completed iteration (NaN if none).
    pub fn final_loss(&self) -> f64 {
        self.runs
            .iter()
            .rev()
            .find_map(|r| r.rows.last())
            .map_or(f64::NAN, |r| r.loss)
    }
}

/// `kills` kill points at distinct random iterations in `1..iterations`, each
/// with a random delay below `max_delay`, in order.
pub fn random_kill_points(
    rng: &mut SplitMix64,
    kills: usize,
    iterations: u64,
    max_delay: Duration,
) -> Result<Vec<KillPoint>> {
    require((kills as u64) < iterations, || {
        format!("{kills} kills need more than {kills} iterations (got {iterations})")
    })?;
    let mut its: Vec<u64> = Vec::with_capacity(kills);
    while its.len() < kills {
        let k = 1 + rng.below(iterations - 1);
        if !its.contains(&k) {
            its.push(k);
        }
    }
    its.sort_unstable();
    Ok(its
        .into_iter()
        .map(|k| KillPoint {
            after_iteration: k,
            delay: max_delay.mul_f64(rng.next_f64()),
        })
        .collect())
}

/// The kill points of the no-mirror run: the same amounts of work between
/// kills as `points`, each counted from a fresh start.
pub fn gaps(points: &[KillPoint]) -> Vec<KillPoint> {
    let mut prev = 0;
    points
        .iter()
        .map(|p| {
            let g = KillPoint {
                after_iteration: (p.after_iteration - prev).max(1),
                delay: p.delay,
            };
            prev = p.after_iteration;
            g
        })
        .collect()
}

/// What every variant's runs share: the workspace, the output directory and
/// the timeout.
struct VariantRun<'a> {
    ws: &'a Workspace,
    out: &'a Path,
    timeout: Duration,
}

impl VariantRun<'_> {
    /// Runs variant `name` as job `job` through `points` (a fresh pool at
    /// each start if `fresh`), then reads its final state.
    fn run(
        &self,
        name: &'static str,
        job: &str,
        child: &TrainChild,
        points: &[KillPoint],
        fresh: bool,
        progress: Progress<'_>,
    ) -> Result<Variant> {
        let csv = |run: usize| self.out.join(format!("{job}-run{run}.csv"));
        let t = Instant::now();
        let runs = run_with_kills(
            &mut |run| {
                if fresh {
                    self.ws.remove_pool(job)?;
                }
                Ok((child.spec(self.ws, job, &csv(run), job)?, csv(run)))
            },
            points,
            self.timeout,
            |r| {
                if name != "baseline" {
                    let label = if name == "no-mirror" {
                        "no mirror"
                    } else {
                        name
                    };
                    progress(&describe_run(&format!("{label} "), r, "SIGKILLed"));
                }
            },
        )?;
        let wall = t.elapsed();
        Ok(Variant {
            name,
            runs,
            wall,
            end: self.ws.state_digest(&self.ws.pool(job))?,
        })
    }
}

/// Runs the crash test; progress lines go to `progress`, the outputs to
/// `a.out`. Check the result with [`CrashTestReport::check`].
pub fn run(a: &CrashTestOptions, progress: Progress<'_>) -> Result<CrashTestReport> {
    require(a.iterations >= 2, || {
        "--iterations must be at least 2".into()
    })?;
    require(a.cfg.is_file(), || {
        format!("{}: no such model cfg", a.cfg.display())
    })?;
    out_dir(&a.out)?;
    let t_all = Instant::now();
    progress("preparing: owner key, sealed dataset, simulated platform");
    let ws = Workspace::prepare(&a.data, &a.out)?;
    let child =
        TrainChild::mirroring_each_iteration(&a.cfg, a.iterations, a.mirror, a.seed, a.threads);
    let vr = VariantRun {
        ws: &ws,
        out: &a.out,
        timeout: a.timeout,
    };
    progress(&format!(
        "baseline: {} iterations uninterrupted",
        a.iterations
    ));
    let baseline = vr.run("baseline", "baseline", &child, &[], false, progress)?;
    let per_iter = baseline.wall.div_f64(a.iterations as f64);
    let mut rng = SplitMix64(a.kill_seed);
    let points = random_kill_points(&mut rng, a.kills, a.iterations, per_iter)?;
    progress(&format!(
        "resilient: {} SIGKILLs after iterations {:?} (+ a random delay below {:.0} ms each)",
        a.kills,
        points.iter().map(|p| p.after_iteration).collect::<Vec<_>>(),
        per_iter.as_secs_f64() * 1e3
    ));
    let resilient = vr.run("resilient", "resilient", &child, &points, false, progress)?;
    let mut variants = vec![baseline, resilient];
    if !a.skip_no_mirror {
        let gaps = gaps(&points);
        progress(&format!(
            "no mirror: killed after {:?} iterations of each run, restarting from scratch",
            gaps.iter().map(|p| p.after_iteration).collect::<Vec<_>>()
        ));
        let nm = TrainChild {
            mirror_every: a.iterations + 1,
            ..child.clone()
        };
        variants.push(vr.run("no-mirror", "nomirror", &nm, &gaps, true, progress)?);
    }
    write_outputs(&a.out, &variants)?;
    Ok(CrashTestReport {
        variants,
        iterations: a.iterations,
        out: a.out.clone(),
        wall: t_all.elapsed(),
    })
}

/// The variants of a crash test; shown as the table and the list of outputs.
#[derive(Debug, Clone)]
pub struct CrashTestReport {
    /// baseline, resilient and (unless skipped) no-mirror.
    pub variants: Vec<Variant>,
    /// The iterations every run had to reach.
    pub iterations: u64,
    /// The output directory.
    pub out: PathBuf,
    /// Wall time of the whole test.
    pub wall: Duration,
}

impl fmt::Display for CrashTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(
            f,
            "{:<10} {:>5} {:>6} {:>10} {:>10} {:>10} {:>9}  state digest",
            "variant", "runs", "kills", "executed", "lost", "final", "wall s"
        )?;
        for v in &self.variants {
            writeln!(
                f,
                "{:<10} {:>5} {:>6} {:>10} {:>10} {:>10.4} {:>9.1}  {}",
                v.name,
                v.runs.len(),
                v.kills(),
                v.work(),
                lost_iterations(&v.runs),
                v.final_loss(),
                v.wall.as_secs_f64(),
                v.end.short()
            )?;
        }
        writeln!(
            f,
            "\noutputs in {}: crash_test.csv, crash_test_runs.csv, crash_test.png (total {:.1} s)",
            self.out.display(),
            self.wall.as_secs_f64()
        )
    }
}

impl CrashTestReport {
    /// Checks that both runs reached the last iteration, the resilient one
    /// lost no completed iteration and ended bit-identical to the baseline;
    /// returns the line saying so.
    pub fn check(&self) -> Result<String> {
        let [base, res, ..] = self.variants.as_slice() else {
            return Err(ExperimentError::Check(
                "the crash test has no baseline and resilient runs".into(),
            ));
        };
        let (b, r) = (base.end, res.end);
        if b.iteration != self.iterations || r.iteration != self.iterations {
            return Err(ExperimentError::Check(format!(
                "the runs ended at iterations {} (baseline) and {} (resilient), not {}",
                b.iteration, r.iteration, self.iterations
            )));
        }
        let lost = lost_iterations(&res.runs);
        if lost > 0 {
            return Err(ExperimentError::Check(format!(
                "the resilient run lost {lost} completed iterations across its restarts"
            )));
        }
        if b.digest != r.digest {
            return Err(ExperimentError::Check(format!(
                "the resilient run's final state differs from the baseline's ({} vs {})",
                r.short(),
                b.short()
            )));
        }
        Ok(format!(
            "final weights, momentum and RNG states of the resilient run ({} kills) are IDENTICAL to the baseline's",
            res.kills()
        ))
    }
}

/// The legend label of a variant's curve.
fn label(v: &Variant) -> String {
    match v.name {
        "resilient" => format!(
            "resilient ({} SIGKILLs; its curve covers the baseline's)",
            v.kills()
        ),
        "no-mirror" => format!("no mirror ({} SIGKILLs, restarts from scratch)", v.kills()),
        n => n.to_string(),
    }
}

fn write_outputs(out: &Path, variants: &[Variant]) -> Result<()> {
    let mut w = CsvWriter::create(
        out.join("crash_test.csv"),
        &["variant", "run", "executed", "iteration", "loss"],
    )?;
    let mut series = Vec::new();
    for v in variants {
        let c = v.curve();
        for p in &c {
            w.row(&[&v.name, &p.run, &p.executed, &p.iteration, &p.loss])?;
        }
        series.push(Series::new(
            label(v),
            c.iter().map(|p| (p.executed as f64, p.loss)).collect(),
        ));
    }
    w.finish()?;
    write_runs_csv(&out.join("crash_test_runs.csv"), variants)?;
    LineChart {
        title: "Crash resilience: training loss with SIGKILLs (Fig. 9)".into(),
        x_label: "iterations executed".into(),
        y_label: "loss".into(),
        series,
        markers: false,
        ..Default::default()
    }
    .save_png(out.join("crash_test.png"))?;
    Ok(())
}

fn write_runs_csv(path: &Path, variants: &[Variant]) -> Result<()> {
    let mut r = CsvWriter::create(
        path,
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_points_are_distinct_sorted_and_bounded() {
        let mut rng = SplitMix64(7);
        let p = random_kill_points(&mut rng, 5, 8, Duration::from_millis(50)).unwrap();
        assert_eq!(p.len(), 5);
        assert!(
            p.windows(2)
                .all(|w| w[0].after_iteration < w[1].after_iteration)
        );
        assert!(p.iter().all(|k| (1..8).contains(&k.after_iteration)));
        assert!(p.iter().all(|k| k.delay < Duration::from_millis(50)));
        let e = random_kill_points(&mut rng, 8, 8, Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("8 kills need more"), "{e}");
    }

    #[test]
    fn no_mirror_gaps_repeat_the_work_between_kills() {
        let d = Duration::from_millis(3);
        let k = |after_iteration| KillPoint {
            after_iteration,
            delay: d,
        };
        let g = gaps(&[k(3), k(7), k(8)]);
        assert_eq!(
            g.iter().map(|p| p.after_iteration).collect::<Vec<_>>(),
            [3, 4, 1]
        );
        assert!(g.iter().all(|p| p.delay == d));
    }

    fn row(iteration: u64, loss: f64) -> host::supervisor::LossRow {
        host::supervisor::LossRow {
            iteration,
            loss,
            restored: false,
        }
    }

    #[test]
    fn report_checks_iterations_losses_and_digests() {
        let run = |n: usize, killed: bool, rows: Vec<host::supervisor::LossRow>| RunRecord {
            run: n,
            killed,
            wall: Duration::from_millis(5),
            rows,
        };
        let end = FinalState {
            digest: [1; 32],
            iteration: 2,
        };
        let base = Variant {
            name: "baseline",
            runs: vec![run(0, false, vec![row(1, 2.0), row(2, 1.5)])],
            wall: Duration::from_millis(5),
            end,
        };
        let res = Variant {
            name: "resilient",
            runs: vec![
                run(0, true, vec![row(1, 2.0)]),
                run(1, false, vec![row(2, 1.5)]),
            ],
            ..base.clone()
        };
        assert_eq!(res.kills(), 1);
        assert_eq!(res.work(), 2);
        assert_eq!(res.curve()[1].executed, 2);
        assert_eq!(res.final_loss(), 1.5);
        let mut report = CrashTestReport {
            variants: vec![base, res],
            iterations: 2,
            out: PathBuf::from("out"),
            wall: Duration::from_secs(1),
        };
        assert!(report.check().unwrap().contains("IDENTICAL"));
        assert!(report.to_string().contains("0101010101010101"));
        report.variants[1].end.digest = [2; 32];
        assert!(report.check().unwrap_err().to_string().contains("differs"));
        report.iterations = 3;
        assert!(report.check().unwrap_err().to_string().contains("not 3"));
    }
}
