//! How long operations report their progress: the caller passes a
//! [`Progress`] and receives [`Event`]s (the library itself never prints).

use std::path::Path;

/// Something a long operation reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The simulated platform was created in this directory (on first use).
    PlatformCreated(&'a Path),
    /// A model cfg parsed with a warning.
    Warning(&'a str),
    /// Copying a sealed dataset into a pool starts: `total` bytes, `from`
    /// already there (a resumed import).
    ImportStart {
        /// Bytes to copy in all.
        total: u64,
        /// Bytes already persistent.
        from: u64,
    },
    /// Bytes of the dataset persistently copied so far.
    Imported(u64),
    /// Sealing a dataset starts: `samples` records.
    SealStart {
        /// Records to seal.
        samples: u64,
    },
    /// Records sealed so far.
    Sealed(u64),
    /// Sealing finished.
    SealDone,
    /// A training loop starts at iteration `start` and runs to `target`.
    TrainStart {
        /// The iteration the model is at.
        start: u64,
        /// The iteration it trains to.
        target: u64,
    },
    /// One training iteration finished.
    Iteration(&'a IterationReport),
    /// The training loop ended (`ok`: it was not cut short by an error).
    TrainDone {
        /// Whether the loop ran to its end.
        ok: bool,
    },
}

/// One training iteration, as [`Event::Iteration`] reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationReport {
    /// The iteration just done (1 = the first).
    pub iteration: u64,
    /// Its loss.
    pub loss: f32,
    /// Darknet's running average loss.
    pub avg_loss: f32,
    /// Milliseconds of its mirror-out, if it mirrored.
    pub mirror_ms: Option<f64>,
    /// The learning rate used (plaintext training only).
    pub learning_rate: Option<f32>,
    /// Images per second so far (plaintext training only).
    pub images_per_sec: Option<f64>,
}

/// Receives the events of long operations.
pub trait Progress {
    /// Called for each event, in order.
    fn event(&mut self, e: Event<'_>);
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&mut self, _: Event<'_>) {}
}

impl<F: FnMut(Event<'_>)> Progress for F {
    fn event(&mut self, e: Event<'_>) {
        self(e);
    }
}

impl Event<'_> {
    /// The remark a terminal shows for this event, if any (the simulated
    /// platform's creation, a warning).
    pub fn remark(&self) -> Option<String> {
        match self {
            Event::PlatformCreated(dir) => Some(format!(
                "created the SIMULATED platform in {} (INSECURE: its keys are plain files; for \
                 development and CI only)",
                dir.display()
            )),
            Event::Warning(w) => Some(format!("warning: {w}")),
            _ => None,
        }
    }
}

/// The iteration's status: its loss, then the learning rate and speed
/// (plaintext training) or the mirror-out time (if it mirrored).
impl std::fmt::Display for IterationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loss {:.4} (avg {:.4})", self.loss, self.avg_loss)?;
        match (self.learning_rate, self.images_per_sec, self.mirror_ms) {
            (Some(lr), Some(ips), _) => write!(f, "  lr {lr:.5}  {ips:.0} images/s"),
            (_, _, Some(ms)) => write!(f, "  mirror {ms:.1} ms"),
            _ => Ok(()),
        }
    }
}
