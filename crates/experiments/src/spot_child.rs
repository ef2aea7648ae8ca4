//! The training job under a spot replay: a child `plinius train` per up
//! interval, killed at each up→down transition, with the loss rows it writes
//! observed as they appear.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host::supervisor::{KillOutcome, RunRecord, Running, read_loss_csv};

use crate::Progress;
use crate::error::{ExperimentError, Result};
use crate::replay::ReplayedRun;
use crate::workspace::{TrainChild, Workspace, describe_run};

/// One completed iteration as the supervisor saw it appear.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Wall time since the start of the replay.
    pub wall: Duration,
    /// The iteration.
    pub iteration: u64,
    /// Its loss.
    pub loss: f64,
}

/// The training job under the replay: a child `plinius train` per up interval.
pub struct ChildRun<'a, 'p> {
    ws: &'a Workspace,
    child: TrainChild,
    out: PathBuf,
    t0: Instant,
    running: Option<Running>,
    seen_rows: usize,
    progress: Progress<'p>,
    /// Every run, in order.
    pub runs: Vec<RunRecord>,
    /// Every completed (not restored) iteration, in order.
    pub observed: Vec<Observation>,
}

impl<'a, 'p> ChildRun<'a, 'p> {
    /// A job training `child` in `ws`, its loss CSVs in `out`; each run's
    /// end is reported to `progress`. Wall time counts from now.
    pub fn new(ws: &'a Workspace, child: TrainChild, out: &Path, progress: Progress<'p>) -> Self {
        ChildRun {
            ws,
            child,
            out: out.to_path_buf(),
            t0: Instant::now(),
            running: None,
            seen_rows: 0,
            progress,
            runs: Vec::new(),
            observed: Vec::new(),
        }
    }

    fn csv(&self) -> PathBuf {
        self.out.join(format!("spot-run{}.csv", self.runs.len()))
    }

    fn poll_rows(&mut self) -> Result<()> {
        let rows = read_loss_csv(&self.csv())?;
        let now = self.t0.elapsed();
        for r in &rows[self.seen_rows.min(rows.len())..] {
            if !r.restored {
                self.observed.push(Observation {
                    wall: now,
                    iteration: r.iteration,
                    loss: r.loss,
                });
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
        (self.progress)(&describe_run("", &r, "killed"));
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

    fn not_running() -> ExperimentError {
        ExperimentError::Check("the replay drove a training process that is not running".into())
    }
}

impl ReplayedRun for ChildRun<'_, '_> {
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
            let run = self.running.as_mut().ok_or_else(Self::not_running)?;
            if let Some(s) = run.wait_until(self.t0 + step)? {
                let done = self.t0.elapsed();
                let run = self.running.take().ok_or_else(Self::not_running)?;
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
        let run = self.running.take().ok_or_else(Self::not_running)?;
        let started = run.started;
        let killed = match run.kill()? {
            KillOutcome::Killed => true,
            KillOutcome::AlreadyExited(s) if s.success() => false,
            KillOutcome::AlreadyExited(s) => {
                return Err(ExperimentError::Check(format!(
                    "the training process failed ({s}); see its log"
                )));
            }
        };
        self.end_run(killed, started)
    }

    fn idle_until(&mut self, deadline: Duration) -> Result<()> {
        self.sleep_until(deadline);
        Ok(())
    }
}
