//! A supervisor for training runs as child processes: spawn a run, watch its
//! loss CSV, SIGKILL it at chosen or random moments, restart it, and collect
//! what each run reported.
//!
//! The child writes a loss CSV with (at least) the columns `iteration` and
//! `loss`, one row per completed iteration, each row written in one go. A row
//! cut short by a kill (no line end yet) is ignored.

use crate::error::{BoxError, Context, HostError, Result, ensure};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a waiting supervisor looks at the child.
const POLL: Duration = Duration::from_millis(2);

/// What to run: a program, its arguments, and a log file for its output.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The child's stdout and stderr are appended here.
    pub log: PathBuf,
}

impl ChildSpec {
    /// A child running `program args...` with its output appended to `log`.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log: impl Into<PathBuf>,
    ) -> Self {
        ChildSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            log: log.into(),
        }
    }

    /// A child running this very executable (`plinius <args>`).
    pub fn this_exe(
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log: impl Into<PathBuf>,
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the plinius executable")?;
        Ok(Self::new(exe, args, log))
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Starts the child.
    pub fn spawn(&self) -> Result<Running> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening the child log {}", self.log.display()))?;
        let err = log
            .try_clone()
            .with_context(|| format!("opening the child log {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {}", self.display()))?;
        Ok(Running {
            child,
            started: Instant::now(),
            spec: self.clone(),
        })
    }
}

/// A running child.
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    /// When it was started.
    pub started: Instant,
    spec: ChildSpec,
}

/// How a kill went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// The child was running and died of the SIGKILL.
    Killed,
    /// The child had already exited, with this status.
    AlreadyExited(ExitStatus),
}

impl Running {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("waiting for {}", self.spec.display()))
    }

    /// Waits until the child exits or `deadline` passes.
    pub fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// SIGKILLs the child (unless it already exited) and reaps it.
    pub fn kill(mut self) -> Result<KillOutcome> {
        if let Some(s) = self.try_wait()? {
            return Ok(KillOutcome::AlreadyExited(s));
        }
        // `Child::kill` sends SIGKILL on Unix.
        self.child
            .kill()
            .with_context(|| format!("killing {}", self.spec.display()))?;
        let s = self
            .child
            .wait()
            .with_context(|| format!("reaping {}", self.spec.display()))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match s.signal() {
            Some(9) => KillOutcome::Killed,
            _ => KillOutcome::AlreadyExited(s),
        })
    }

    /// Waits for the child to exit and fails, with the end of its log, unless
    /// it succeeded.
    pub fn wait_success(mut self) -> Result<()> {
        let s = self
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.spec.display()))?;
        self.check(s)
    }

    /// Fails, with the end of the child's log, unless `status` is a success.
    pub fn check(&self, status: ExitStatus) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        Err(HostError::Child(format!(
            "{} failed ({status}); the end of its log {}:\n{}",
            self.spec.display(),
            self.spec.log.display(),
            log_tail(&self.spec.log, 15)
        )))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a child behind when the supervisor gives up on an error.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` lines of a log file (or a note that it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            // Progress bars redraw with carriage returns: keep the last state.
            let lines: Vec<&str> = s
                .lines()
                .map(|l| l.rsplit('\r').next().unwrap_or(l))
                .collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// One row of a loss CSV.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossRow {
    /// The iteration (1 = the first).
    pub iteration: u64,
    /// Its loss.
    pub loss: f64,
    /// The row was not trained by this run but restored from the mirror it
    /// resumed from (`plinius train` writes the mirrored iteration's row with
    /// an unknown time, `ms` = `nan`, when its CSV lacks it).
    pub restored: bool,
}

/// Parses a loss CSV with columns `iteration` and `loss` among others (and
/// optionally `ms`: a `nan` there marks a row restored from the mirror). A
/// last line without a line end (a row cut short by a kill) is ignored;
/// `name` names the file in errors.
pub fn parse_loss_csv(text: &str, name: &str) -> Result<Vec<LossRow>> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut lines = complete.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |c: &str| {
        cols.iter()
            .position(|h| *h == c)
            .with_context(|| format!("{name}: line 1: no `{c}` column in {header:?}"))
    };
    let (ci, cl) = (find("iteration")?, find("loss")?);
    let cms = cols.iter().position(|h| *h == "ms");
    let mut rows = Vec::new();
    for (n, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        ensure!(
            f.len() == cols.len(),
            "{name}: line {}: {} fields, the header has {}",
            n + 1,
            f.len(),
            cols.len()
        );
        let iteration = f[ci]
            .parse()
            .with_context(|| format!("{name}: line {}: iteration {:?}", n + 1, f[ci]))?;
        let loss = f[cl]
            .parse()
            .with_context(|| format!("{name}: line {}: loss {:?}", n + 1, f[cl]))?;
        let restored = cms.is_some_and(|c| f[c].parse::<f64>().is_ok_and(f64::is_nan));
        rows.push(LossRow {
            iteration,
            loss,
            restored,
        });
    }
    Ok(rows)
}

/// Reads a loss CSV; a file that does not exist yet has no rows.
pub fn read_loss_csv(path: &Path) -> Result<Vec<LossRow>> {
    match std::fs::read(path) {
        Ok(b) => parse_loss_csv(&String::from_utf8_lossy(&b), &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The last iteration in a loss CSV, looking only at its tail (cheap to poll).
pub fn last_iteration(path: &Path) -> Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let len = f.metadata().map_or(0, |m| m.len());
    if len > 4096 {
        // Whole header needed for column positions: read it, then the tail.
        let rows = {
            let mut head = String::new();
            (&mut f)
                .take(1024)
                .read_to_string(&mut head)
                .with_context(|| format!("reading {}", path.display()))?;
            let header = head.lines().next().unwrap_or("").to_string();
            f.seek(SeekFrom::Start(len - 2048))
                .with_context(|| format!("reading {}", path.display()))?;
            let mut tail = Vec::new();
            f.read_to_end(&mut tail)
                .with_context(|| format!("reading {}", path.display()))?;
            let tail = String::from_utf8_lossy(&tail);
            // Drop the first (partial) line of the tail.
            let body = tail.split_once('\n').map_or("", |x| x.1);
            parse_loss_csv(&format!("{header}\n{body}"), &path.display().to_string())?
        };
        return Ok(rows.last().map(|r| r.iteration));
    }
    let mut s = String::new();
    f.read_to_string(&mut s)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_loss_csv(&s, &path.display().to_string())?
        .last()
        .map(|r| r.iteration))
}

/// How waiting for an iteration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The loss CSV reached this iteration (at least the one waited for).
    Reached(u64),
    /// The child exited first.
    Exited(ExitStatus),
}

/// Waits until the child's loss CSV shows iteration `target` (or later) or the
/// child exits; fails after `timeout`.
pub fn wait_for_iteration(
    run: &mut Running,
    csv: &Path,
    target: u64,
    timeout: Duration,
) -> Result<Progress> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(it) = last_iteration(csv)?
            && it >= target
        {
            return Ok(Progress::Reached(it));
        }
        if let Some(s) = run.try_wait()? {
            // The child may have written its last rows just before exiting.
            if let Some(it) = last_iteration(csv)?
                && it >= target
            {
                return Ok(Progress::Reached(it));
            }
            return Ok(Progress::Exited(s));
        }
        if Instant::now() >= until {
            return Err(HostError::Child(format!(
                "{} did not reach iteration {target} in {:.0} s (log {}):\n{}",
                run.spec.display(),
                timeout.as_secs_f64(),
                run.spec.log.display(),
                log_tail(&run.spec.log, 10)
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Where to kill a run: once the loss CSV shows `after_iteration`, wait `delay`
/// (so the kill lands somewhere inside a later iteration, possibly inside its
/// mirror-out), then SIGKILL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KillPoint {
    /// The iteration that must be complete first.
    pub after_iteration: u64,
    /// The extra wait before the kill.
    pub delay: Duration,
}

/// What one run (one child process) did.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// 0 for the first run, then 1, 2, ... after each kill.
    pub run: usize,
    /// Whether it was SIGKILLed (else it finished).
    pub killed: bool,
    /// Wall time from start to exit.
    pub wall: Duration,
    /// The rows of its loss CSV.
    pub rows: Vec<LossRow>,
}

impl RunRecord {
    /// The iteration the run resumed from (0 = from scratch), if it reported
    /// it (a restored row) or completed an iteration.
    pub fn resumed_from(&self) -> Option<u64> {
        self.rows.first().map(|r| {
            if r.restored {
                r.iteration
            } else {
                r.iteration - 1
            }
        })
    }

    /// The rows of the iterations this run trained (restored rows left out).
    pub fn trained(&self) -> impl Iterator<Item = &LossRow> {
        self.rows.iter().filter(|r| !r.restored)
    }

    /// The last iteration it completed.
    pub fn last(&self) -> Option<u64> {
        self.rows.last().map(|r| r.iteration)
    }
}

/// Completed iterations lost over a sequence of runs: at each restart, how many
/// of the iterations completed before it the new run had to do again.
pub fn lost_iterations(runs: &[RunRecord]) -> u64 {
    let mut completed = 0u64;
    let mut lost = 0;
    for r in runs {
        if let (Some(from), Some(last)) = (r.resumed_from(), r.last()) {
            lost += completed.saturating_sub(from);
            completed = completed.max(last);
        }
    }
    lost
}

/// Runs a job to completion, killing it at each of `points` and restarting
/// it. `make(run)` gives the child of run number `run` and the loss CSV it
/// writes (one file per run). `timeout` bounds each wait for progress.
pub fn run_with_kills(
    make: &mut dyn FnMut(usize) -> std::result::Result<(ChildSpec, PathBuf), BoxError>,
    points: &[KillPoint],
    timeout: Duration,
    mut on_event: impl FnMut(&RunRecord),
) -> Result<Vec<RunRecord>> {
    let mut runs = Vec::new();
    let mut next = 0;
    loop {
        let run_no = runs.len();
        let (spec, csv) = make(run_no).map_err(HostError::Caller)?;
        let mut child = spec.spawn()?;
        let started = child.started;
        let killed = match points.get(next) {
            Some(p) => match wait_for_iteration(&mut child, &csv, p.after_iteration, timeout)? {
                Progress::Reached(_) => {
                    next += 1;
                    std::thread::sleep(p.delay);
                    match child.kill()? {
                        KillOutcome::Killed => true,
                        // Finished during the delay: no kill happened.
                        KillOutcome::AlreadyExited(s) if s.success() => false,
                        KillOutcome::AlreadyExited(s) => {
                            return Err(HostError::Child(format!(
                                "{} failed ({s}); the end of its log {}:\n{}",
                                spec.display(),
                                spec.log.display(),
                                log_tail(&spec.log, 15)
                            )));
                        }
                    }
                }
                Progress::Exited(s) => {
                    // Finished before the remaining kill points.
                    child.check(s)?;
                    false
                }
            },
            None => {
                child.wait_success()?;
                false
            }
        };
        let r = RunRecord {
            run: run_no,
            killed,
            wall: started.elapsed(),
            rows: read_loss_csv(&csv)?,
        };
        on_event(&r);
        runs.push(r);
        if !killed {
            return Ok(runs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumable fake trainer in shell: it appends its progress to `state`
    /// (like a mirror-out, before the row is reported) and appends
    /// `iteration,loss` rows to the CSV given as $1, one every 10 ms, up to $2.
    /// Only shell built-ins touch the files, so nothing outlives a SIGKILL of
    /// the shell and writes behind the supervisor's back.
    const TRAINER: &str = r#"
csv="$1"; total="$2"; state="$3"
i=0
if [ -f "$state" ]; then while read -r l; do i=$l; done < "$state"; fi
echo "iteration,loss" > "$csv"
while [ "$i" -lt "$total" ]; do
  sleep 0.01
  i=$((i+1))
  echo "$i" >> "$state"
  echo "$i,$(( 1000 / i ))" >> "$csv"
done
"#;

    fn trainer(dir: &Path, run: usize, total: u64) -> (ChildSpec, PathBuf) {
        let csv = dir.join(format!("run{run}.csv"));
        let spec = ChildSpec::new(
            "sh",
            [
                "-c".to_string(),
                TRAINER.to_string(),
                "trainer".to_string(),
                csv.display().to_string(),
                total.to_string(),
                dir.join("state").display().to_string(),
            ],
            dir.join("log.txt"),
        );
        (spec, csv)
    }

    #[test]
    fn loss_csv_parsing_ignores_a_cut_row_and_names_errors() {
        let rows =
            parse_loss_csv("iteration,loss,lr\n1,2.5,0.1\n2,2.0,0.1\n3,1.", "l.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            LossRow {
                iteration: 2,
                loss: 2.0,
                restored: false
            }
        );
        assert!(parse_loss_csv("", "l.csv").unwrap().is_empty());
        assert!(
            parse_loss_csv("iteration,loss", "l.csv")
                .unwrap()
                .is_empty()
        );
        let e = parse_loss_csv("it,loss\n1,2\n", "l.csv")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "l.csv: line 1: no `iteration` column in \"it,loss\"");
        let e = parse_loss_csv("iteration,loss\n1,2\nx,3\n", "l.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.csv: line 3: iteration \"x\""), "{e}");
        let e = parse_loss_csv("iteration,loss\n1\n", "l.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.csv: line 2: 1 fields"), "{e}");
    }

    #[test]
    fn restored_rows_give_the_resume_point() {
        let rows = parse_loss_csv("iteration,loss,ms\n7,0.5,nan\n8,0.4,9.5\n", "l.csv").unwrap();
        assert!(rows[0].restored && !rows[1].restored);
        let r = RunRecord {
            run: 1,
            killed: false,
            wall: Duration::ZERO,
            rows,
        };
        assert_eq!(r.resumed_from(), Some(7));
        assert_eq!(r.trained().count(), 1);
        // Without an `ms` column nothing is restored.
        let rows = parse_loss_csv("iteration,loss\n7,0.5\n", "l.csv").unwrap();
        assert!(!rows[0].restored);
        let before = RunRecord {
            run: 0,
            killed: true,
            wall: Duration::ZERO,
            rows: parse_loss_csv("iteration,loss,ms\n1,2,3\n7,0.5,1\n", "l.csv").unwrap(),
        };
        assert_eq!(lost_iterations(&[before.clone(), r.clone()]), 0);
        let r6 = RunRecord {
            rows: parse_loss_csv("iteration,loss,ms\n6,0.5,nan\n", "l.csv").unwrap(),
            ..r
        };
        assert_eq!(lost_iterations(&[before, r6]), 1);
    }

    #[test]
    fn last_iteration_reads_the_tail_of_long_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.csv");
        assert_eq!(last_iteration(&p).unwrap(), None);
        let mut s = String::from("iteration,loss,learning_rate\n");
        for i in 1..=2000 {
            s.push_str(&format!("{i},{}.5,0.01\n", i % 7));
        }
        std::fs::write(&p, format!("{s}2001,0.")).unwrap();
        assert_eq!(last_iteration(&p).unwrap(), Some(2000));
        std::fs::write(&p, "iteration,loss\n1,2\n").unwrap();
        assert_eq!(last_iteration(&p).unwrap(), Some(1));
    }

    #[test]
    fn kills_restart_and_nothing_completed_is_lost() {
        let _g = crate::fork_guard();
        let d = tempfile::tempdir().unwrap();
        // Four kills at distinct iterations, each a little after its iteration
        // is complete (the kill points the crash test draws look like these).
        let points: Vec<KillPoint> = [(5, 3), (13, 11), (22, 7), (31, 14)]
            .into_iter()
            .map(|(after_iteration, ms)| KillPoint {
                after_iteration,
                delay: Duration::from_millis(ms),
            })
            .collect();
        let dir = d.path().to_path_buf();
        let runs = run_with_kills(
            &mut |run| Ok(trainer(&dir, run, 40)),
            &points,
            Duration::from_secs(30),
            |_| {},
        )
        .unwrap();
        let kills = runs.iter().filter(|r| r.killed).count();
        assert_eq!(kills, 4);
        assert_eq!(runs.len(), 5);
        assert!(!runs.last().unwrap().killed);
        assert_eq!(runs.last().unwrap().last(), Some(40));
        // Each run resumed where the previous one's last row left it.
        assert_eq!(lost_iterations(&runs), 0);
        for w in runs.windows(2) {
            if let (Some(a), Some(b)) = (w[0].last(), w[1].resumed_from()) {
                assert!(b >= a, "run {} resumed from {b}, {a} was done", w[1].run);
            }
        }
        // Each kill happened after its point.
        for (r, p) in runs.iter().zip(&points) {
            assert!(r.last().unwrap() >= p.after_iteration);
        }
    }

    #[test]
    fn losing_progress_is_counted() {
        let _g = crate::fork_guard();
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        let points = [KillPoint {
            after_iteration: 5,
            delay: Duration::ZERO,
        }];
        // The state file is removed at each restart: the job starts over.
        let runs = run_with_kills(
            &mut |run| {
                let _ = std::fs::remove_file(dir.join("state"));
                Ok(trainer(&dir, run, 8))
            },
            &points,
            Duration::from_secs(30),
            |_| {},
        )
        .unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].resumed_from(), Some(0));
        assert!(lost_iterations(&runs) >= 5);
    }

    #[test]
    fn a_failing_child_is_an_error_with_its_log() {
        let _g = crate::fork_guard();
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.txt");
        let spec = ChildSpec::new("sh", ["-c", "echo boom >&2; exit 3"], &log);
        let e = spec
            .spawn()
            .unwrap()
            .wait_success()
            .unwrap_err()
            .to_string();
        assert!(e.contains("boom") && e.contains("exit status: 3"), "{e}");
        let missing = ChildSpec::new("/nonexistent/prog", ["x"], &log)
            .spawn()
            .unwrap_err();
        assert!(
            crate::error::chain(&missing).contains("/nonexistent/prog"),
            "{missing:#}"
        );
    }

    #[test]
    fn kill_reports_whether_the_child_was_running() {
        let _g = crate::fork_guard();
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.txt");
        let c = ChildSpec::new("sleep", ["5"], &log).spawn().unwrap();
        let t = Instant::now();
        assert_eq!(c.kill().unwrap(), KillOutcome::Killed);
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut c = ChildSpec::new("true", Vec::<String>::new(), &log)
            .spawn()
            .unwrap();
        let s = c
            .wait_until(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(s.unwrap().success());
        assert!(matches!(c.kill().unwrap(), KillOutcome::AlreadyExited(s) if s.success()));
    }
}
