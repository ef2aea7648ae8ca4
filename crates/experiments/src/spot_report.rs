//! What a spot run did: the replay's outcome with the job's runs summed up,
//! shown as the summary table, and the checks a run must pass.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ExperimentError, Result};
use crate::replay::Outcome;

/// What a spot run did.
#[derive(Debug, Clone)]
pub struct SpotReport {
    /// The trace file.
    pub source: String,
    /// Tick length in seconds.
    pub tick_seconds: f64,
    /// The replay's outcome.
    pub outcome: Outcome,
    /// Up→down transitions in the replayed ticks.
    pub transitions: usize,
    /// Completed iterations redone after a restart (must be 0).
    pub lost: u64,
    /// Kills (an iteration in flight may be redone after each).
    pub kills: usize,
    /// The last iteration completed.
    pub completed: u64,
    /// The iterations the job had to reach.
    pub iterations: u64,
    /// Wall time of the uninterrupted run, if timed.
    pub baseline_wall: Option<Duration>,
    /// Wall time the training processes ran, summed.
    pub process_wall: Duration,
    /// The output directory.
    pub out: PathBuf,
}

impl fmt::Display for SpotReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.outcome;
        writeln!(f)?;
        writeln!(
            f,
            "ticks replayed          {}..{} (tick {} s)",
            o.replayed.start, o.replayed.end, self.tick_seconds
        )?;
        writeln!(
            f,
            "finished                {} ({} of {} iterations)",
            o.finished, self.completed, self.iterations
        )?;
        writeln!(
            f,
            "interruptions           {} (up→down transitions replayed: {})",
            o.interruptions, self.transitions
        )?;
        writeln!(f, "starts                  {}", o.starts)?;
        writeln!(
            f,
            "completed iterations lost {} (in-flight iterations redone: at most {})",
            self.lost, self.kills
        )?;
        writeln!(
            f,
            "trace time              {:.2} h, running {:.2} h",
            o.trace_seconds / 3600.0,
            o.running_seconds / 3600.0
        )?;
        if let Some(c) = o.cost {
            writeln!(f, "cost (price x running)  {c:.4} (trace currency)")?;
        }
        write!(f, "wall time               {:.1} s", o.wall.as_secs_f64())?;
        match self.baseline_wall {
            Some(b) => writeln!(
                f,
                " (uninterrupted run: {:.1} s; training processes ran {:.1} s)",
                b.as_secs_f64(),
                self.process_wall.as_secs_f64()
            )?,
            None => writeln!(f)?,
        }
        writeln!(
            f,
            "outputs in {}: spot.csv, spot_summary.csv, spot.png",
            self.out.display()
        )
    }
}

impl SpotReport {
    /// Checks that every up→down transition interrupted the job, no completed
    /// iteration was lost and the job finished within the trace.
    pub fn check(&self) -> Result<()> {
        let o = &self.outcome;
        if o.interruptions != self.transitions {
            return Err(ExperimentError::Check(format!(
                "{} interruptions but {} up→down transitions in the replayed ticks",
                o.interruptions, self.transitions
            )));
        }
        if self.lost > 0 {
            return Err(ExperimentError::Check(format!(
                "{} completed iterations were lost across restarts",
                self.lost
            )));
        }
        if !o.finished {
            return Err(ExperimentError::Check(format!(
                "the trace ended after {} of {} iterations: replay more ticks (--start, --ticks), \
                 raise --speedup or lower --iterations",
                self.completed, self.iterations
            )));
        }
        Ok(())
    }
}
