//! `plinius bench train --pipeline`: the cost of Plinius's protection per
//! training iteration, measured in one run: the plain training step, the
//! sealed-batch loading (the enclave draws the batch and opens its records
//! from the pool in place), and the mirror-out after each iteration in each
//! mode (`romulus`, `ab`, `ssd`). Each mode trains the same model from the
//! same seed on MNIST sealed in-process, with a pool in /dev/shm when present.

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use enclave::{Enclave, IterationReport, MirrorMode, TrainConfig};
use host::ckpt::FileCheckpoint;

use crate::csv::CsvWriter;
use crate::error::{ExperimentError, Result, require};
use crate::in_process::InProcess;
use crate::pools::{bench_tempdir, pool_with_dataset};
use crate::stats::median;
use crate::train_speed::model_name;

/// The settings of the pipeline benchmark.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The model.
    pub cfg: PathBuf,
    /// Worker threads (one value; default all cores).
    pub threads: Option<usize>,
    /// Timed iterations per mode.
    pub iterations: usize,
    /// Untimed iterations first.
    pub warmup: usize,
    /// MNIST directory (images sealed for the benchmark).
    pub mnist: PathBuf,
    /// Samples to seal (the sampler draws from them).
    pub samples: usize,
    /// Where pools go (default /dev/shm, else the temporary directory).
    pub pool_dir: Option<PathBuf>,
    /// Where the ssd checkpoint goes (default the temporary directory).
    pub ckpt_dir: Option<PathBuf>,
}

/// Medians of one mode.
#[derive(Debug, Clone, Copy)]
pub struct PipelinePoint {
    /// The mirror mode.
    pub mode: MirrorMode,
    /// Threads.
    pub threads: usize,
    /// Images per iteration.
    pub batch: usize,
    /// Median training step (forward, backward, update), ms.
    pub train_ms: f64,
    /// Median sealed-batch loading, ms.
    pub load_ms: f64,
    /// Median mirror-out, ms.
    pub mirror_ms: f64,
    /// Median sealing part of the mirror-out, ms.
    pub seal_ms: f64,
    /// Median persist/write part of the mirror-out, ms.
    pub persist_ms: f64,
    /// Bytes of the sealed image.
    pub image_bytes: u64,
}

impl PipelinePoint {
    /// Loading as a percentage of the plain training step.
    pub fn load_pct(&self) -> f64 {
        100.0 * self.load_ms / self.train_ms
    }
    /// Mirror-out as a percentage of the plain training step.
    pub fn mirror_pct(&self) -> f64 {
        100.0 * self.mirror_ms / self.train_ms
    }
    /// Whole protected iteration, ms.
    pub fn total_ms(&self) -> f64 {
        self.train_ms + self.load_ms + self.mirror_ms
    }
}

/// Measures one mode: a fresh enclave and pool, `warmup + iterations`
/// iterations, the medians of the timed ones.
fn measure_mode(
    a: &PipelineOptions,
    ip: &InProcess,
    cfg_text: &str,
    data: &Path,
    dirs: (&Path, &Path),
    mode: MirrorMode,
) -> Result<PipelinePoint> {
    let (pools, ckpts) = dirs;
    let threads = a.threads.unwrap_or_else(nn::default_threads);
    let config = TrainConfig {
        threads,
        seed: 1,
        mirror: mode,
        mirror_every: 1,
    };
    let mut e = Enclave::new(ip.keys()?, cfg_text, &a.cfg.display().to_string(), config)?;
    let data_len = std::fs::metadata(data)
        .map_err(ExperimentError::io(data, "cannot read"))?
        .len();
    let plan = e.plan(data_len);
    let path = pools.join(format!("{mode}.pool"));
    let mut pool = pool_with_dataset(&path, &plan, data)?;
    if mode == MirrorMode::Ssd {
        e.set_checkpoint_store(Box::new(FileCheckpoint::new(ckpts.join("ssd.ckpt"))));
    }
    e.attach(&mut pool)?;
    let mut reports: Vec<IterationReport> = Vec::new();
    let total = (a.warmup + a.iterations) as u64;
    e.train_until(&mut pool, total, &mut |r| {
        reports.push(*r);
        ControlFlow::Continue(())
    })?;
    let timed = &reports[a.warmup.min(reports.len())..];
    let ms = |f: &dyn Fn(&IterationReport) -> u64| {
        median(timed.iter().map(|r| f(r) as f64 / 1e6).collect())
    };
    let point = PipelinePoint {
        mode,
        threads,
        batch: e.batch(),
        train_ms: ms(&|r| r.train_ns),
        load_ms: ms(&|r| r.load_ns),
        mirror_ms: ms(&|r| r.mirror.map_or(0, |m| m.total_ns)),
        seal_ms: ms(&|r| r.mirror.map_or(0, |m| m.seal_ns)),
        persist_ms: ms(&|r| r.mirror.map_or(0, |m| m.persist_ns)),
        image_bytes: e.image_len(),
    };
    drop(pool);
    std::fs::remove_file(&path).ok();
    Ok(point)
}

/// Measures every mode.
pub fn run(a: &PipelineOptions) -> Result<PipelineReport> {
    require(a.iterations > 0, || {
        "--iterations must be at least 1".into()
    })?;
    let cfg_text =
        std::fs::read_to_string(&a.cfg).map_err(ExperimentError::io(&a.cfg, "cannot read"))?;
    let pools = bench_tempdir(a.pool_dir.as_deref(), true)?;
    let ckpts = bench_tempdir(a.ckpt_dir.as_deref(), false)?;
    let ip = InProcess::new()?;
    let data = ip.seal_mnist(&a.mnist, a.samples)?;
    let points = MirrorMode::ALL
        .into_iter()
        .map(|mode| measure_mode(a, &ip, &cfg_text, &data, (pools.path(), ckpts.path()), mode))
        .collect::<Result<_>>()?;
    Ok(PipelineReport {
        model: model_name(&a.cfg),
        points,
    })
}

/// The medians of every mode; shown as the table.
#[derive(Debug, Clone)]
pub struct PipelineReport {
    /// The model (cfg file name).
    pub model: String,
    /// One point per mirror mode.
    pub points: Vec<PipelinePoint>,
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&table(&self.model, &self.points))
    }
}

/// The results as a table.
pub fn table(cfg: &str, points: &[PipelinePoint]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<16} {:>7} {:>7} {:>5} {:>9} {:>9} {:>6} {:>10} {:>9} {:>11} {:>7} {:>11}",
        "model",
        "mirror",
        "threads",
        "batch",
        "train ms",
        "load ms",
        "load%",
        "mirror ms",
        "(seal ms",
        "persist ms)",
        "mirr%",
        "iter ms"
    );
    for p in points {
        let _ = writeln!(
            s,
            "{:<16} {:>7} {:>7} {:>5} {:>9.1} {:>9.2} {:>6.2} {:>10.2} {:>9.2} {:>11.2} {:>7.2} {:>11.1}",
            cfg,
            p.mode.name(),
            p.threads,
            p.batch,
            p.train_ms,
            p.load_ms,
            p.load_pct(),
            p.mirror_ms,
            p.seal_ms,
            p.persist_ms,
            p.mirror_pct(),
            p.total_ms()
        );
    }
    if let Some(p) = points.first() {
        let _ = writeln!(
            s,
            "plain iteration (no sealing, no mirroring) = train ms; sealed image {} bytes; percentages of the plain iteration",
            p.image_bytes
        );
    }
    s
}

impl PipelineReport {
    /// Writes the CSV (`model,mirror,threads,batch,train_ms,...`).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut w = CsvWriter::create(
            path,
            &[
                "model",
                "mirror",
                "threads",
                "batch",
                "train_ms",
                "load_ms",
                "load_pct",
                "mirror_ms",
                "seal_ms",
                "persist_ms",
                "mirror_pct",
                "iteration_ms",
                "image_bytes",
            ],
        )?;
        let f = |x: f64| format!("{x:.3}");
        for p in &self.points {
            w.row(&[
                &self.model,
                &p.mode.name(),
                &p.threads,
                &p.batch,
                &f(p.train_ms),
                &f(p.load_ms),
                &f(p.load_pct()),
                &f(p.mirror_ms),
                &f(p.seal_ms),
                &f(p.persist_ms),
                &f(p.mirror_pct()),
                &f(p.total_ms()),
                &p.image_bytes,
            ])?;
        }
        w.finish()?;
        Ok(())
    }
}
