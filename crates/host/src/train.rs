//! `plinius train`: secure, crash-resilient training. The model and the data
//! are sealed everywhere outside the enclave; after every K iterations the
//! enclave mirrors the whole training state into the pool (or the ssd
//! checkpoint). Killed at any moment, the same command resumes from the last
//! mirror and the run ends bit-for-bit where an uninterrupted run would.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use enclave::MirrorMode;
use indicatif::{ProgressBar, ProgressStyle};

use crate::import::ImportOutcome;
use crate::job::{Job, JobOptions, KeySource, StartArgs};

/// Mirror modes on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorArg {
    /// One Romulus write transaction per mirror-out (the paper's).
    Romulus,
    /// Two slots in the pool and a persistent selector.
    Ab,
    /// A sealed checkpoint file written with write + fsync + rename (the paper's baseline).
    Ssd,
}

impl From<MirrorArg> for MirrorMode {
    fn from(m: MirrorArg) -> Self {
        match m {
            MirrorArg::Romulus => MirrorMode::Romulus,
            MirrorArg::Ab => MirrorMode::Ab,
            MirrorArg::Ssd => MirrorMode::Ssd,
        }
    }
}

/// Arguments of `plinius train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// The owner's sealed training dataset (needed until it is imported into the pool).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The job's pool file (created on first use; /dev/shm or a DAX file system for PM).
    #[arg(long)]
    pub pool: PathBuf,
    /// Train until the model has done N iterations in total (default: the cfg's max_batches).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// How the model is mirrored, fixed when the pool is created (default: the
    /// pool's mode; `romulus` for a new pool).
    #[arg(long, value_enum)]
    pub mirror: Option<MirrorArg>,
    /// Mirror-out every K iterations (and after the last one).
    #[arg(long, default_value_t = 1)]
    pub mirror_every: u64,
    /// Worker threads (default: all cores; results do not depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the initial weights, dropout and batch sampling (first start only).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Development shortcut for the first start: the owner's key file; simulated
    /// evidence and provisioning run in-process.
    #[arg(long, conflicts_with = "bundle")]
    pub key: Option<PathBuf>,
    /// The key bundle the owner provisioned for this enclave (first start).
    #[arg(long, requires = "state")]
    pub bundle: Option<PathBuf>,
    /// The enclave session state written by `plinius enclave evidence` (with --bundle).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The ssd mode's checkpoint file (default: `<pool>.ckpt`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Simulated platform directory.
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// Write iteration,loss,ms per iteration here (kept across restarts).
    #[arg(long)]
    pub loss_csv: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What a `train` run did.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Iteration at start (the mirror's, on resume).
    pub start_iteration: u64,
    /// Iteration at the end.
    pub end_iteration: u64,
    /// Whether the run resumed from an existing mirror.
    pub resumed: bool,
    /// Last loss.
    pub last_loss: f32,
    /// Total batch loading, training and mirror-out nanoseconds.
    pub load_ns: u64,
    /// Training step nanoseconds.
    pub train_ns: u64,
    /// Mirror-out nanoseconds.
    pub mirror_ns: u64,
    /// Mirror-outs done.
    pub mirrors: u64,
}

/// Opens the loss CSV for appending, keeping the rows of iterations up to
/// `upto` (those the mirror holds) and dropping later ones (trained, then lost
/// in a crash) and a last row cut short by a kill. A crash between a
/// mirror-out and the write of its row loses that row: it is written again
/// from the mirror (`upto_loss`, the loss of iteration `upto`; time unknown,
/// `nan`). The file is replaced atomically (temporary file, rename).
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
    let tmp = crate::ckpt::tmp_path(path);
    std::fs::write(&tmp, &kept).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot replace", path.display()))?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open for appending", path.display()))
}

fn key_source(a: &TrainArgs) -> KeySource {
    match (&a.key, &a.bundle, &a.state) {
        (Some(k), _, _) => KeySource::OwnerKey(k.clone()),
        (None, Some(b), Some(s)) => KeySource::Bundle {
            bundle: b.clone(),
            state: s.clone(),
        },
        _ => KeySource::Pool,
    }
}

/// Runs `plinius train`; `log` receives the status lines.
pub fn train(a: &TrainArgs, log: &mut dyn FnMut(&str)) -> Result<TrainOutcome> {
    if a.mirror_every == 0 {
        bail!("--mirror-every must be at least 1");
    }
    let opts = JobOptions {
        pool: a.pool.clone(),
        checkpoint: a.checkpoint.clone(),
        platform: a.platform.clone(),
        threads: a.threads,
    };
    let keys = key_source(a);
    let (mut job, rep) = Job::start(&StartArgs {
        opts: &opts,
        cfg: &a.cfg,
        data: a.data.as_deref(),
        keys: &keys,
        seed: a.seed,
        mirror: a.mirror.map(Into::into),
        mirror_every: a.mirror_every,
        quiet: a.quiet,
    })?;
    if let Some(n) = &rep.note {
        log(&format!("note: {n}"));
    }
    if rep.pool_created {
        log(&format!("created pool {}", a.pool.display()));
    }
    match rep.import {
        Some(ImportOutcome::Imported { bytes }) => {
            log(&format!("imported the sealed dataset ({bytes} bytes)"))
        }
        Some(ImportOutcome::Resumed { from, total }) => log(&format!(
            "resumed the interrupted dataset import at byte {from} of {total}"
        )),
        _ => {}
    }
    let at = rep.attached;
    let start = at.iteration;
    if at.created {
        log(&format!(
            "started a new job: mirror mode {}, seed {}, keys from the {}; initial mirror {} bytes in {:.1} ms",
            at.mode,
            at.seed,
            rep.keys_from,
            at.mirror_out.map_or(0, |m| m.bytes),
            at.mirror_out.map_or(0.0, |m| m.total_ns as f64 / 1e6)
        ));
    } else {
        log(&format!(
            "resumed from iteration {start} (mirror mode {}, seed {}, mirror-in {:.1} ms; keys from the {})",
            at.mode,
            at.seed,
            at.mirror_in.map_or(0.0, |m| m.total_ns as f64 / 1e6),
            rep.keys_from
        ));
        if (a.key.is_some() || a.bundle.is_some()) && rep.note.is_none() {
            log(
                "note: --key/--bundle not used: the pool holds the job's keys, sealed to this platform",
            );
        }
    }
    let target = match a.iterations {
        Some(n) => n,
        None => {
            let m = crate::cfgcheck::load_cfg(&a.cfg)?.net.max_batches;
            if m == 0 { 500 } else { m }
        }
    };
    let mut csv = match &a.loss_csv {
        Some(p) => Some((open_loss_csv(p, start, job.enclave.loss())?, p.clone())),
        None => None,
    };
    if start >= target {
        log(&format!(
            "nothing to do: the model has done {start} iterations (target {target})"
        ));
        return Ok(TrainOutcome {
            start_iteration: start,
            end_iteration: start,
            resumed: !at.created,
            last_loss: job.enclave.loss(),
            load_ns: 0,
            train_ns: 0,
            mirror_ns: 0,
            mirrors: 0,
        });
    }
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(target)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} iterations  {msg}  [{elapsed_precise} / ~{eta}]",
        )
        .expect("a valid template"),
    );
    bar.set_position(start);
    let mut csv_err: Option<anyhow::Error> = None;
    let mut last = Instant::now();
    let Job { pool, enclave, .. } = &mut job;
    let sum = enclave.train_until(pool, target, &mut |r| {
        let ms = last.elapsed().as_secs_f64() * 1e3;
        last = Instant::now();
        if let Some((f, p)) = &mut csv
            // One write per row, so a kill cuts at most the row in flight.
            && let Err(e) = f.write_all(format!("{},{},{ms:.2}\n", r.iteration, r.loss).as_bytes())
        {
            csv_err = Some(anyhow::anyhow!("{}: write failed: {e}", p.display()));
            return ControlFlow::Break(());
        }
        let mirror = r.mirror.map_or(String::new(), |m| {
            format!("  mirror {:.1} ms", m.total_ns as f64 / 1e6)
        });
        bar.set_message(format!(
            "loss {:.4} (avg {:.4}){mirror}",
            r.loss, r.avg_loss
        ));
        bar.set_position(r.iteration);
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    if let Some(e) = csv_err {
        return Err(e);
    }
    let n = (sum.end_iteration - sum.start_iteration).max(1) as f64;
    log(&format!(
        "trained iterations {}..{} (loss {:.4}, avg {:.4}); per iteration: batch loading {:.2} ms, training {:.1} ms, \
         mirror-out {:.2} ms ({} mirror-outs)",
        sum.start_iteration + 1,
        sum.end_iteration,
        sum.last_loss,
        sum.avg_loss,
        sum.load_ns as f64 / 1e6 / n,
        sum.train_ns as f64 / 1e6 / n,
        sum.mirror_ns as f64 / 1e6 / sum.mirrors.max(1) as f64,
        sum.mirrors
    ));
    Ok(TrainOutcome {
        start_iteration: start,
        end_iteration: sum.end_iteration,
        resumed: !at.created,
        last_loss: sum.last_loss,
        load_ns: sum.load_ns,
        train_ns: sum.train_ns,
        mirror_ns: sum.mirror_ns,
        mirrors: sum.mirrors,
    })
}

/// `plinius train`.
pub fn run(a: TrainArgs) -> Result<()> {
    train(&a, &mut |s| println!("{s}"))?;
    Ok(())
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
