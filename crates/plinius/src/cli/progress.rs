//! The terminal's view of the library's progress events: indicatif bars and
//! messages on stderr.

use host::progress::{Event, IterationReport, Progress};
use indicatif::{ProgressBar, ProgressStyle};

const TRAIN: &str = "{bar:40} {pos}/{len} iterations  {msg}  [{elapsed_precise} / ~{eta}]";

/// Progress bars for imports, sealing and training, and the library's
/// remarks on stderr.
pub struct Bars {
    quiet: bool,
    /// Plaintext training: the bar stays when done.
    keep: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    /// Bars (hidden if `quiet`); a finished training bar is cleared.
    pub fn new(quiet: bool) -> Self {
        Bars {
            quiet,
            keep: false,
            bar: None,
        }
    }

    /// Bars whose finished training bar stays on screen.
    pub fn keeping(quiet: bool) -> Self {
        Bars {
            keep: true,
            ..Bars::new(quiet)
        }
    }

    fn start(&mut self, len: u64, template: &str) -> &ProgressBar {
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(len)
        };
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
        self.bar.insert(bar)
    }

    fn iteration(&self, r: &IterationReport) {
        let Some(bar) = &self.bar else { return };
        bar.set_message(r.to_string());
        if r.learning_rate.is_some() && r.images_per_sec.is_some() {
            bar.inc(1);
        } else {
            bar.set_position(r.iteration);
        }
    }
}

impl Progress for Bars {
    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::PlatformCreated(_) | Event::Warning(_) => {
                if let Some(remark) = e.remark() {
                    eprintln!("{remark}");
                }
            }
            Event::ImportStart { total, from } => {
                let bar = self.start(
                    total,
                    "importing {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
                );
                bar.set_position(from);
            }
            Event::Imported(n) | Event::Sealed(n) => {
                if let Some(b) = &self.bar {
                    b.set_position(n);
                }
            }
            Event::SealStart { samples } => {
                self.start(
                    samples,
                    "sealing {bar:40} {pos}/{len} samples {per_sec} eta {eta}",
                );
            }
            Event::SealDone => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
            }
            Event::TrainStart { start, target } => self.start(target, TRAIN).set_position(start),
            Event::Iteration(r) => self.iteration(r),
            Event::TrainDone { ok } => match (self.bar.take(), ok, self.keep) {
                (Some(b), true, true) => b.finish(),
                (Some(b), true, false) => b.finish_and_clear(),
                (Some(b), false, true) => b.abandon(),
                _ => {}
            },
        }
    }
}
