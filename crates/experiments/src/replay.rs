//! Replaying a spot trace against a training job: the state machine of
//! `plinius spot`, independent of processes and clocks.
//!
//! The replayed part of the trace starts at a chosen tick. Trace time is
//! compressed by `speedup` (wall = trace / speedup); outages can also be skipped
//! (they take no wall time: nothing runs during them). Up intervals start the
//! job (it resumes from its mirror), an up→down transition kills it (an
//! *interruption*), and the replay ends in the tick in which the job finishes, or
//! at the end of the trace.

use std::time::Duration;

use crate::error::{ExperimentError, Result, require};
use crate::trace::Trace;

/// A phase of the replay: one interval of the trace placed on the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// Whether the instance runs.
    pub up: bool,
    /// First tick of the phase (in the whole trace).
    pub start_tick: usize,
    /// Number of ticks.
    pub ticks: usize,
    /// Trace time at the start, in seconds since the start of the replay.
    pub trace_start: f64,
    /// Wall time at the start, since the start of the replay.
    pub wall_start: Duration,
    /// Wall time at the end.
    pub wall_end: Duration,
}

/// What the replay does to the job, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The instance came up: the job was started (or resumed).
    Start,
    /// The instance went down: the job was killed.
    Kill,
    /// The job finished.
    Finish,
}

/// One action of the replay, with the tick and wall time it happened at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The trace tick.
    pub tick: usize,
    /// Wall time since the start of the replay.
    pub wall: Duration,
}

/// The run under the replay: something that can be started, left to run until
/// a deadline, and killed. The spot experiment implements it with a real
/// child process; tests use a simulated one.
pub trait ReplayedRun {
    /// Starts (or resumes) the job at wall time `now`.
    fn start(&mut self, now: Duration) -> Result<()>;
    /// Lets the job run until wall time `deadline`; returns the wall time at
    /// which it finished if it finished before then.
    fn run_until(&mut self, deadline: Duration) -> Result<Option<Duration>>;
    /// Kills the job (SIGKILL) at the current deadline.
    fn kill(&mut self) -> Result<()>;
    /// Waits, with the job down, until wall time `deadline`.
    fn idle_until(&mut self, deadline: Duration) -> Result<()>;
}

/// The outcome of a replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Whether the job finished within the trace.
    pub finished: bool,
    /// The ticks replayed: from the start tick to the tick in which the job
    /// finished (inclusive), or to the end of the trace.
    pub replayed: std::ops::Range<usize>,
    /// Times the job was killed by an up→down transition.
    pub interruptions: usize,
    /// Times the job was started.
    pub starts: usize,
    /// Trace seconds from the start of the replay to the end.
    pub trace_seconds: f64,
    /// Trace seconds during which the instance ran (and was paid for).
    pub running_seconds: f64,
    /// Price × running time, summed over the ticks (price traces only), in the
    /// trace's currency (prices are per hour).
    pub cost: Option<f64>,
    /// Wall time of the replay.
    pub wall: Duration,
    /// Every start, kill and the finish.
    pub events: Vec<Event>,
}

/// The replay of `trace` from tick `start`, compressed by `speedup`.
#[derive(Clone, Debug)]
pub struct Replay<'a> {
    trace: &'a Trace,
    start: usize,
    speedup: f64,
    skip_outages: bool,
}

impl<'a> Replay<'a> {
    /// A replay of `trace` from tick `start`; `speedup` trace seconds pass per
    /// wall second; with `skip_outages`, down intervals take no wall time.
    pub fn new(trace: &'a Trace, start: usize, speedup: f64, skip_outages: bool) -> Result<Self> {
        require(speedup.is_finite() && speedup > 0.0, || {
            format!("--speedup must be positive (got {speedup})")
        })?;
        require(start < trace.len(), || {
            format!(
                "{}: the replay starts at tick {start} but the trace has {} ticks",
                trace.source,
                trace.len()
            )
        })?;
        Ok(Replay {
            trace,
            start,
            speedup,
            skip_outages,
        })
    }

    /// Wall time of `trace_seconds` of trace.
    pub fn wall_of(&self, trace_seconds: f64) -> Duration {
        Duration::from_secs_f64(trace_seconds / self.speedup)
    }

    /// The phases from the start tick to the end of the trace.
    pub fn phases(&self) -> Vec<Phase> {
        let tail = self.trace.window(self.start..self.trace.len());
        let mut wall = Duration::ZERO;
        let mut trace_t = 0.0;
        tail.intervals()
            .into_iter()
            .map(|iv| {
                let secs = iv.ticks as f64 * self.trace.tick_seconds;
                let dur = if !iv.up && self.skip_outages {
                    Duration::ZERO
                } else {
                    self.wall_of(secs)
                };
                let p = Phase {
                    up: iv.up,
                    start_tick: self.start + iv.start,
                    ticks: iv.ticks,
                    trace_start: trace_t,
                    wall_start: wall,
                    wall_end: wall + dur,
                };
                wall += dur;
                trace_t += secs;
                p
            })
            .collect()
    }

    /// Runs the replay against `job`.
    pub fn run(&self, job: &mut dyn ReplayedRun) -> Result<Outcome> {
        let tick_s = self.trace.tick_seconds;
        let mut events = Vec::new();
        let mut interruptions = 0;
        let mut starts = 0;
        let mut running = false;
        let mut running_seconds = 0.0;
        let mut cost = self.trace.price.as_ref().map(|_| 0.0);
        let phases = self.phases();
        for p in &phases {
            if p.up {
                if !running {
                    job.start(p.wall_start)?;
                    running = true;
                    starts += 1;
                    events.push(Event {
                        kind: EventKind::Start,
                        tick: p.start_tick,
                        wall: p.wall_start,
                    });
                }
                if let Some(done) = job.run_until(p.wall_end)? {
                    // Where in the phase the job finished, in trace time.
                    let into = done.saturating_sub(p.wall_start).as_secs_f64() * self.speedup;
                    let into = into.min(p.ticks as f64 * tick_s);
                    // A finish exactly at a tick's end belongs to that tick.
                    let tick_off = ((into / tick_s).ceil() as usize)
                        .saturating_sub(1)
                        .min(p.ticks - 1);
                    let end_tick = p.start_tick + tick_off;
                    running_seconds += into;
                    if let Some(c) = cost.as_mut() {
                        *c += self.cost_of(p.start_tick, into);
                    }
                    events.push(Event {
                        kind: EventKind::Finish,
                        tick: end_tick,
                        wall: done,
                    });
                    return Ok(Outcome {
                        finished: true,
                        replayed: self.start..end_tick + 1,
                        interruptions,
                        starts,
                        trace_seconds: p.trace_start + into,
                        running_seconds,
                        cost,
                        wall: done,
                        events,
                    });
                }
                let secs = p.ticks as f64 * tick_s;
                running_seconds += secs;
                if let Some(c) = cost.as_mut() {
                    *c += self.cost_of(p.start_tick, secs);
                }
            } else {
                if running {
                    job.kill()?;
                    running = false;
                    interruptions += 1;
                    events.push(Event {
                        kind: EventKind::Kill,
                        tick: p.start_tick,
                        wall: p.wall_start,
                    });
                }
                job.idle_until(p.wall_end)?;
            }
        }
        if running {
            job.kill()?;
        }
        let Some(last) = phases.last() else {
            return Err(ExperimentError::Check(format!(
                "{}: nothing to replay from tick {}",
                self.trace.source, self.start
            )));
        };
        Ok(Outcome {
            finished: false,
            replayed: self.start..self.trace.len(),
            interruptions,
            starts,
            trace_seconds: last.trace_start + last.ticks as f64 * tick_s,
            running_seconds,
            cost,
            wall: last.wall_end,
            events,
        })
    }

    /// Price × time for `secs` trace seconds of running from tick `from`.
    fn cost_of(&self, from: usize, secs: f64) -> f64 {
        let tick_s = self.trace.tick_seconds;
        let mut left = secs;
        let mut i = from;
        let mut c = 0.0;
        while left > 1e-12 {
            let part = left.min(tick_s);
            c += self.trace.price_at(i).unwrap_or(0.0) * part / 3600.0;
            left -= part;
            i += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated job: it needs `work` wall time of running in total and keeps
    /// all completed work across kills (a perfect mirror), or loses it all
    /// (`resumes == false`).
    struct SimRun {
        work: Duration,
        done: Duration,
        since: Option<Duration>,
        now: Duration,
        resumes: bool,
        log: Vec<String>,
    }

    impl SimRun {
        fn new(work_ms: u64, resumes: bool) -> Self {
            SimRun {
                work: Duration::from_millis(work_ms),
                done: Duration::ZERO,
                since: None,
                now: Duration::ZERO,
                resumes,
                log: Vec::new(),
            }
        }
    }

    impl ReplayedRun for SimRun {
        fn start(&mut self, now: Duration) -> Result<()> {
            assert!(self.since.is_none(), "started twice");
            assert!(now >= self.now, "time went back");
            self.now = now;
            self.since = Some(now);
            self.log.push(format!("start@{}", now.as_millis()));
            Ok(())
        }
        fn run_until(&mut self, deadline: Duration) -> Result<Option<Duration>> {
            let since = self.since.expect("running");
            let need = self.work - self.done;
            if since + need <= deadline {
                self.now = since + need;
                self.done = self.work;
                return Ok(Some(self.now));
            }
            self.done += deadline - since;
            self.since = Some(deadline);
            self.now = deadline;
            Ok(None)
        }
        fn kill(&mut self) -> Result<()> {
            assert!(self.since.take().is_some(), "killed while not running");
            if !self.resumes {
                self.done = Duration::ZERO;
            }
            self.log.push(format!("kill@{}", self.now.as_millis()));
            Ok(())
        }
        fn idle_until(&mut self, deadline: Duration) -> Result<()> {
            assert!(self.since.is_none(), "idle while running");
            assert!(deadline >= self.now);
            self.now = deadline;
            Ok(())
        }
    }

    fn trace(bits: &str, tick: f64) -> Trace {
        Trace {
            source: "t".into(),
            tick_seconds: tick,
            up: bits.bytes().map(|b| b == b'1').collect(),
            price: None,
        }
    }

    #[test]
    fn interruptions_are_the_up_down_transitions_replayed() {
        // 10 s ticks, speedup 10: a tick is 1 s of wall time.
        let t = trace("0011100110111111", 10.0);
        let r = Replay::new(&t, 0, 10.0, false).unwrap();
        // 5.5 s of work: ticks 2-4 (3 s), 7-8 (2 s), then 0.5 s into tick 10.
        let mut job = SimRun::new(5500, true);
        let o = r.run(&mut job).unwrap();
        assert!(o.finished);
        assert_eq!(o.replayed, 0..11);
        assert_eq!(o.interruptions, 2);
        assert_eq!(o.interruptions, t.up_down_transitions(o.replayed.clone()));
        assert_eq!(o.starts, 3);
        assert_eq!(
            job.log,
            [
                "start@2000",
                "kill@5000",
                "start@7000",
                "kill@9000",
                "start@10000"
            ]
        );
        assert_eq!(o.wall, Duration::from_millis(10_500));
        assert!((o.trace_seconds - 105.0).abs() < 1e-6);
        assert!((o.running_seconds - 55.0).abs() < 1e-6);
        let kinds: Vec<_> = o.events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, [Start, Kill, Start, Kill, Start, Finish]);
        assert_eq!(o.events.last().unwrap().tick, 10);
    }

    #[test]
    fn starting_mid_trace_and_skipping_outages() {
        let t = trace("1110000000000000000111", 60.0);
        // Start in tick 1 (up), skip the long outage: it costs no wall time.
        let r = Replay::new(&t, 1, 60.0, true).unwrap();
        let mut job = SimRun::new(3000, true);
        let o = r.run(&mut job).unwrap();
        assert!(o.finished);
        assert_eq!(o.interruptions, 1);
        assert_eq!(o.interruptions, t.up_down_transitions(o.replayed.clone()));
        assert_eq!(o.wall, Duration::from_millis(3000));
        // Trace time includes the 16-tick outage.
        assert!((o.trace_seconds - (2.0 + 16.0 + 1.0) * 60.0).abs() < 1e-6);
        assert_eq!(o.replayed, 1..20);
    }

    #[test]
    fn trace_that_starts_down_is_not_an_interruption() {
        let t = trace("000011", 5.0);
        let r = Replay::new(&t, 0, 5.0, false).unwrap();
        let mut job = SimRun::new(1500, true);
        let o = r.run(&mut job).unwrap();
        assert!(o.finished);
        assert_eq!(o.interruptions, 0);
        assert_eq!(o.starts, 1);
        assert_eq!(o.replayed, 0..6);
        assert_eq!(job.log, ["start@4000"]);
    }

    #[test]
    fn trace_ends_before_the_job() {
        let t = trace("1101", 1.0);
        let r = Replay::new(&t, 0, 1.0, false).unwrap();
        let mut job = SimRun::new(10_000, true);
        let o = r.run(&mut job).unwrap();
        assert!(!o.finished);
        assert_eq!(o.replayed, 0..4);
        assert_eq!(o.interruptions, 1);
        // The job is killed at the end of the trace too, but that is no interruption.
        assert_eq!(job.log.last().unwrap(), "kill@4000");
        assert!((o.running_seconds - 3.0).abs() < 1e-9);
    }

    #[test]
    fn without_resume_work_is_lost_at_each_kill() {
        let t = trace("110110111", 1.0);
        let r = Replay::new(&t, 0, 1.0, false).unwrap();
        // 2.5 s of work never fits into a 2-tick window without a mirror.
        let mut job = SimRun::new(2500, false);
        let o = r.run(&mut job).unwrap();
        assert!(o.finished);
        assert_eq!(o.interruptions, 2);
        assert_eq!(o.replayed, 0..9);
        // With a mirror it finishes in the second window.
        let mut job = SimRun::new(2500, true);
        let o = r.run(&mut job).unwrap();
        assert_eq!(o.replayed, 0..4);
        assert_eq!(o.interruptions, 1);
    }

    #[test]
    fn cost_is_price_times_running_time() {
        let mut t = trace("1101", 1800.0);
        t.price = Some(vec![0.1, 0.2, 5.0, 0.4]);
        let r = Replay::new(&t, 0, 1800.0, false).unwrap();
        // 2.5 ticks of work: ticks 0, 1 and half of tick 3.
        let mut job = SimRun::new(2500, true);
        let o = r.run(&mut job).unwrap();
        let want = 0.1 * 0.5 + 0.2 * 0.5 + 0.4 * 0.25;
        assert!((o.cost.unwrap() - want).abs() < 1e-9, "{:?}", o.cost);
    }

    #[test]
    fn phases_cover_the_tail_and_bad_settings_fail() {
        let t = trace("0110", 2.0);
        let p = Replay::new(&t, 1, 2.0, false).unwrap().phases();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].up, p[0].start_tick, p[0].ticks), (true, 1, 2));
        assert_eq!(p[0].wall_end, Duration::from_secs(2));
        assert_eq!(
            (p[1].up, p[1].start_tick, p[1].wall_end),
            (false, 3, Duration::from_secs(3))
        );
        assert!(Replay::new(&t, 4, 1.0, false).is_err());
        assert!(Replay::new(&t, 0, 0.0, false).is_err());
    }
}
