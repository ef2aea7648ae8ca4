//! `plinius bench train --pipeline`: the cost of Plinius's protection per
//! training iteration, measured in one run: the plain training step, the
//! sealed-batch loading (the enclave draws the batch and opens its records
//! from the pool in place), and the mirror-out after each iteration in each
//! mode (`romulus`, `ab`, `ssd`). Each mode trains the same model from the
//! same seed on MNIST sealed in-process, with a pool in /dev/shm when present.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use enclave::{Enclave, IterationReport, Keys, MirrorMode, TrainConfig};
use seal::KeyBundle;
use seal::dataset::{DatasetHeader, Split, seal_sample_into};
use seal::evidence::Policy;

use crate::csv::CsvWriter;
use host::job::FileCheckpoint;

/// Settings of the pipeline benchmark.
#[derive(Debug, Clone)]
pub struct PipelineArgs {
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
    /// CSV output.
    pub csv: Option<PathBuf>,
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Seals the first `n` MNIST training images (at least one, at most all)
/// into a sealed dataset file at `out`, with a fresh random dataset id.
pub(crate) fn seal_mnist(mnist: &Path, n: usize, bundle: &KeyBundle, out: &Path) -> Result<()> {
    let split = hostio::idx::load_split(mnist, "train")
        .with_context(|| format!("loading MNIST from {}", mnist.display()))?;
    let n = n.min(split.len()).max(1);
    let mut id = [0u8; 16];
    seal::key::random_fill(&mut id)?;
    let h = DatasetHeader {
        split: Split::Train,
        dataset_id: id,
        sample_count: n as u64,
        rows: split.images.rows as u32,
        cols: split.images.cols as u32,
    };
    let key = bundle.dataset.record_key();
    let px = h.pixels();
    let mut bytes = Vec::with_capacity(h.file_len());
    bytes.extend_from_slice(&h.encode(&key)?);
    let mut scratch = vec![0u8; px + 1];
    let mut rec = vec![0u8; h.record_len()];
    for i in 0..n {
        seal_sample_into(
            &key,
            &id,
            i as u64,
            &split.images.pixels[i * px..(i + 1) * px],
            split.labels[i],
            &mut scratch,
            &mut rec,
        )?;
        bytes.extend_from_slice(&rec);
    }
    std::fs::write(out, &bytes).with_context(|| format!("{}: cannot write", out.display()))
}

fn temp_in(dir: Option<&Path>, fallback_shm: bool) -> Result<tempfile::TempDir> {
    let b = {
        let mut b = tempfile::Builder::new();
        b.prefix("plinius-bench-");
        b
    };
    let d = match dir {
        Some(d) => b.tempdir_in(d),
        None if fallback_shm && Path::new("/dev/shm").is_dir() => {
            b.tempdir_in("/dev/shm").or_else(|_| b.tempdir())
        }
        None => b.tempdir(),
    };
    d.context("cannot create a temporary directory for the benchmark")
}

/// Measures every mode.
pub fn measure(a: &PipelineArgs) -> Result<Vec<PipelinePoint>> {
    if a.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let cfg_text = std::fs::read_to_string(&a.cfg)
        .with_context(|| format!("{}: cannot read", a.cfg.display()))?;
    let threads = a.threads.unwrap_or_else(nn::default_threads);
    let work = temp_in(None, false)?;
    let pools = temp_in(a.pool_dir.as_deref(), true)?;
    let ckpts = temp_in(a.ckpt_dir.as_deref(), false)?;
    let platform_dir = work.path().join("platform");
    let (platform, _) = hostio::platform::SimPlatform::open_or_create(&platform_dir)?;
    let bundle = KeyBundle::generate()?;
    let data = work.path().join("train.sealed");
    seal_mnist(&a.mnist, a.samples, &bundle, &data)?;
    let data_len = std::fs::metadata(&data)?.len();
    let mut points = Vec::new();
    for mode in MirrorMode::ALL {
        let provider = platform.provider(enclave::measurement());
        let policy = Policy {
            allow_sim: true,
            sim_platform_key: Some(platform.public_key()),
            ..Policy::default()
        };
        let keys = Keys::dev_provision(&provider, &policy, &bundle, &platform)?;
        let config = TrainConfig {
            threads,
            seed: 1,
            mirror: mode,
            mirror_every: 1,
        };
        let mut e = Enclave::new(keys, &cfg_text, &a.cfg.display().to_string(), config)?;
        let plan = e.plan(data_len);
        let path = pools.path().join(format!("{mode}.pool"));
        let mut pool = crate::experiment::pool_with_dataset(&path, &plan, &data)?;
        if mode == MirrorMode::Ssd {
            e.set_checkpoint_store(Box::new(FileCheckpoint::new(ckpts.path().join("ssd.ckpt"))));
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
        points.push(PipelinePoint {
            mode,
            threads,
            batch: e.batch(),
            train_ms: ms(&|r| r.train_ns),
            load_ms: ms(&|r| r.load_ns),
            mirror_ms: ms(&|r| r.mirror.map_or(0, |m| m.total_ns)),
            seal_ms: ms(&|r| r.mirror.map_or(0, |m| m.seal_ns)),
            persist_ms: ms(&|r| r.mirror.map_or(0, |m| m.persist_ns)),
            image_bytes: e.image_len(),
        });
        drop(pool);
        std::fs::remove_file(&path).ok();
    }
    Ok(points)
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

/// Runs the benchmark: table on stdout, optional CSV.
pub fn run(a: &PipelineArgs) -> Result<()> {
    let points = measure(a)?;
    let name = a.cfg.file_name().map_or_else(
        || a.cfg.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    print!("{}", table(&name, &points));
    if let Some(path) = &a.csv {
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
        for p in &points {
            w.row(&[
                &name,
                &p.mode.name(),
                &p.threads,
                &p.batch,
                &format!("{:.3}", p.train_ms),
                &format!("{:.3}", p.load_ms),
                &format!("{:.3}", p.load_pct()),
                &format!("{:.3}", p.mirror_ms),
                &format!("{:.3}", p.seal_ms),
                &format!("{:.3}", p.persist_ms),
                &format!("{:.3}", p.mirror_pct()),
                &format!("{:.3}", p.total_ms()),
                &p.image_bytes,
            ])?;
        }
        w.finish()?;
    }
    Ok(())
}
