//! Secure, crash-resilient training. The model and the data are sealed
//! everywhere outside the enclave; after every K iterations the enclave
//! mirrors the whole training state into the pool (or the ssd checkpoint).
//! Killed at any moment, the same run started again resumes from the last
//! mirror and ends bit-for-bit where an uninterrupted run would.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use enclave::TrainSummary;
use hostio::fs::AtomicOptions;

use crate::error::{Context, HostError, Result, bail, in_pool};
use crate::job::{Job, StartOptions, StartReport, Started};
use crate::progress::{Event, IterationReport, Progress};

/// What a training run needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// How to start (or resume) the job.
    pub start: StartOptions,
    /// Train until the model has done this many iterations in total
    /// (`None`: the cfg's `max_batches`, or 500 if it has none).
    pub iterations: Option<u64>,
    /// Write `iteration,loss,ms` rows here (kept across restarts).
    pub loss_csv: Option<PathBuf>,
}

/// What a training run did.
#[derive(Debug, Clone, Copy)]
pub struct TrainOutcome {
    /// Iteration at start (the mirror's, on resume).
    pub start_iteration: u64,
    /// Whether the run resumed from an existing mirror.
    pub resumed: bool,
    /// The enclave's account of the iterations trained (all zero when there
    /// was nothing to do).
    pub summary: TrainSummary,
}

impl std::fmt::Display for TrainOutcome {
    /// The summary line of the iterations trained.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        let n = (s.end_iteration - s.start_iteration).max(1) as f64;
        write!(
            f,
            "trained iterations {}..{} (loss {:.4}, avg {:.4}); per iteration: batch loading {:.2} ms, training {:.1} ms, \
             mirror-out {:.2} ms ({} mirror-outs)",
            s.start_iteration + 1,
            s.end_iteration,
            s.last_loss,
            s.avg_loss,
            s.load_ns as f64 / 1e6 / n,
            s.train_ns as f64 / 1e6 / n,
            s.mirror_ns as f64 / 1e6 / s.mirrors.max(1) as f64,
            s.mirrors
        )
    }
}

/// A started training job, before its iterations run.
pub struct Training {
    job: Job,
    report: StartReport,
    target: u64,
    /// The loss CSV, unbuffered: one `write` per row (see [`open_loss_csv`]).
    csv: Option<(std::fs::File, PathBuf)>,
}

impl Training {
    /// Starts (or resumes) the job of `o` (see [`Job::start`]) and opens its
    /// loss CSV.
    pub fn start(o: &TrainOptions, progress: &mut dyn Progress) -> Result<Training> {
        if o.start.mirror_every == 0 {
            bail!("--mirror-every must be at least 1");
        }
        let Started { job, report } = Job::start(&o.start, progress)?;
        let target = match o.iterations {
            Some(n) => n,
            None => {
                let m = crate::cfgcheck::load_cfg(&o.start.cfg)?.net.max_batches;
                if m == 0 { 500 } else { m }
            }
        };
        let start = report.attached.iteration;
        let csv = match &o.loss_csv {
            Some(p) => Some((open_loss_csv(p, start, job.enclave.loss())?, p.clone())),
            None => None,
        };
        Ok(Training {
            job,
            report,
            target,
            csv,
        })
    }

    /// How the job started.
    pub fn report(&self) -> &StartReport {
        &self.report
    }

    /// The iteration the run trains to.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// The iteration the model is at.
    pub fn iteration(&self) -> u64 {
        self.job.enclave.iteration()
    }

    /// The attached job.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Trains up to the target, mirroring as configured, appending a row to
    /// the loss CSV after each iteration and reporting each to `progress`.
    pub fn run(mut self, progress: &mut dyn Progress) -> Result<TrainOutcome> {
        let start = self.report.attached.iteration;
        let resumed = !self.report.attached.created;
        if start >= self.target {
            return Ok(TrainOutcome {
                start_iteration: start,
                resumed,
                summary: TrainSummary {
                    start_iteration: start,
                    end_iteration: start,
                    last_loss: self.job.enclave.loss(),
                    ..TrainSummary::default()
                },
            });
        }
        progress.event(Event::TrainStart {
            start,
            target: self.target,
        });
        let mut csv_err: Option<HostError> = None;
        let mut last = Instant::now();
        let Job { pool, enclave, .. } = &mut self.job;
        let csv = &mut self.csv;
        let summary = enclave.train_until(pool, self.target, &mut |r| {
            let ms = last.elapsed().as_secs_f64() * 1e3;
            last = Instant::now();
            if let Some((f, p)) = csv
                // One write per row, so a kill cuts at most the row in flight.
                && let Err(e) =
                    f.write_all(format!("{},{},{ms:.2}\n", r.iteration, r.loss).as_bytes())
            {
                csv_err = Some(HostError::io(p, "write failed")(e));
                return ControlFlow::Break(());
            }
            progress.event(Event::Iteration(&IterationReport {
                iteration: r.iteration,
                loss: r.loss,
                avg_loss: r.avg_loss,
                mirror_ms: r.mirror.map(|m| m.total_ns as f64 / 1e6),
                learning_rate: None,
                images_per_sec: None,
            }));
            ControlFlow::Continue(())
        });
        progress.event(Event::TrainDone {
            ok: summary.is_ok() && csv_err.is_none(),
        });
        let summary = summary.map_err(in_pool(&self.job.pool_path))?;
        if let Some(e) = csv_err {
            return Err(e);
        }
        Ok(TrainOutcome {
            start_iteration: start,
            resumed,
            summary,
        })
    }
}

/// Opens the loss CSV for appending, keeping the rows of iterations up to
/// `upto` (those the mirror holds) and dropping later ones (trained, then lost
/// in a crash) and a last row cut short by a kill. A crash between a
/// mirror-out and the write of its row loses that row: it is written again
/// from the mirror (`upto_loss`, the loss of iteration `upto`; time unknown,
/// `nan`). The file is replaced atomically and durably
/// ([`hostio::fs::write_atomic`]), then appended to row by row.
fn open_loss_csv(path: &Path, upto: u64, upto_loss: f32) -> Result<std::fs::File> {
    let mut kept = String::from("iteration,loss,ms\n");
    let mut last = 0;
    if path.exists() {
        let old = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        // Only lines with their line end are complete.
        let complete = old.rfind('\n').map_or("", |i| &old[..=i]);
        for line in complete.lines().skip(1) {
            let Some(it) = line.split(',').next().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            if it <= upto && line.split(',').count() == 3 {
                kept.push_str(line);
                kept.push('\n');
                last = last.max(it);
            }
        }
    }
    if upto > 0 && last < upto {
        kept.push_str(&format!("{upto},{upto_loss},nan\n"));
    }
    crate::ckpt::check_out_dir(path, "cannot create the loss CSV")?;
    hostio::fs::write_atomic(path, kept.as_bytes(), AtomicOptions::public(true))
        .with_context(|| format!("{}: cannot replace", path.display()))?;
    // Durability: the kept rows are replaced durably above; each new row then
    // goes to the kernel in one unbuffered write (never half-buffered in the
    // process), is not fsynced, and a row cut by a crash is dropped here next
    // time and restored from the mirror.
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open for appending", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_csv_keeps_the_mirrored_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("loss.csv");
        // A fresh file.
        drop(open_loss_csv(&p, 0, 0.0).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "iteration,loss,ms\n");
        // Rows after the mirror (trained, then lost) and a row cut by a kill go.
        std::fs::write(
            &p,
            "iteration,loss,ms\n1,2.5,10.00\n2,2.25,11.00\n3,2.0,12.00\n4,1.5,1",
        )
        .unwrap();
        let mut f = open_loss_csv(&p, 2, 2.25).unwrap();
        f.write_all(b"3,2.1,9.00\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "iteration,loss,ms\n1,2.5,10.00\n2,2.25,11.00\n3,2.1,9.00\n"
        );
        // The mirrored iteration's row was lost (killed between mirror-out and
        // the write): it is restored from the mirror's loss.
        std::fs::write(&p, "iteration,loss,ms\n1,2.5,10.00\n2,2.2").unwrap();
        drop(open_loss_csv(&p, 2, 2.25).unwrap());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "iteration,loss,ms\n1,2.5,10.00\n2,2.25,nan\n"
        );
        assert!(!crate::ckpt::tmp_path(&p).exists());
    }
}
