//! `plinius bench mirror`: saving and restoring the sealed model, mirror on PM
//! against a checkpoint file (Fig. 7 and Table I of the PLINIUS paper).
//!
//! For each model of the size sweep and each mirror mode the enclave mirrors
//! the whole training state out (`save` = seal + write) and back in (`restore`
//! = read + open), `--runs` times each; the medians go to a table, a CSV and
//! two stacked-bar PNGs. `romulus` and `ab` write into a pool on emulated PM
//! (/dev/shm); `ssd` writes a checkpoint file with write + fsync + rename +
//! directory fsync. Before each `ssd` restore the file's pages are dropped
//! from the page cache (`posix_fadvise(DONTNEED)`), so the read comes from the
//! disk as after a reboot (`--warm-cache` keeps them).

use std::fmt;
use std::path::{Path, PathBuf};

use enclave::{Enclave, MirrorInStats, MirrorMode, MirrorOutStats, TrainConfig};
use host::ckpt::FileCheckpoint;

use crate::Progress;
use crate::csv::CsvWriter;
use crate::error::{ExperimentError, Result, require};
use crate::in_process::InProcess;
use crate::plot::BarChart;
use crate::pools::{RemoveOnDrop, out_dir, pool_tempdir, pool_with_dataset};
use crate::stats::median;

/// The settings of the mirror benchmark.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// The models, smallest first.
    pub cfgs: Vec<PathBuf>,
    /// Mirror modes.
    pub modes: Vec<MirrorMode>,
    /// Timed saves and restores per model and mode (medians are reported).
    pub runs: usize,
    /// Where pools go (default: /dev/shm, else the temporary directory).
    pub pool_dir: Option<PathBuf>,
    /// Where the ssd checkpoint goes (default: the output directory; it should
    /// be on the disk being measured, not on tmpfs).
    pub ckpt_dir: Option<PathBuf>,
    /// Leave the checkpoint in the page cache before ssd restores.
    pub warm_cache: bool,
    /// Directory with the MNIST gzip IDX files (a few samples fill the pool's dataset area).
    pub mnist: PathBuf,
    /// Output directory (mirror.csv, mirror_speedup.csv, mirror_save.png, mirror_restore.png).
    pub out: PathBuf,
}

impl MirrorOptions {
    /// The paper's sweep (10 to 100 MB models in `cfg/sweep`), every mode, 5
    /// runs, MNIST in `data/mnist`, outputs in `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        MirrorOptions {
            cfgs: [10, 25, 50, 75, 100]
                .iter()
                .map(|mb| PathBuf::from(format!("cfg/sweep/sweep-{mb}mb.cfg")))
                .collect(),
            modes: MirrorMode::ALL.to_vec(),
            runs: 5,
            pool_dir: None,
            ckpt_dir: None,
            warm_cache: false,
            mnist: PathBuf::from("data/mnist"),
            out: out.into(),
        }
    }
}

/// Medians of one model and mode, in milliseconds.
#[derive(Debug, Clone)]
pub struct MirrorPoint {
    /// The model (cfg file name).
    pub model: String,
    /// Learnable parameters in MB (10^6 bytes), from the sealed records.
    pub model_mb: f64,
    /// Bytes of the sealed mirror image (parameters, BN statistics, momentum).
    pub image_bytes: u64,
    /// The mode.
    pub mode: MirrorMode,
    /// Sealing.
    pub seal_ms: f64,
    /// Writing (romulus commit, ab persist + selector, ssd write + fsync + rename).
    pub write_ms: f64,
    /// Whole save.
    pub save_ms: f64,
    /// Reading (locating in PM, or reading the file).
    pub read_ms: f64,
    /// Opening (authenticating, decrypting into the model).
    pub open_ms: f64,
    /// Whole restore.
    pub restore_ms: f64,
}

impl MirrorPoint {
    /// The table header of [`MirrorPoint::row`].
    pub fn header() -> String {
        format!(
            "{:<20} {:>8} {:>9} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "model",
            "model MB",
            "image MB",
            "mode",
            "seal ms",
            "write ms",
            "save ms",
            "read ms",
            "open ms",
            "restore ms"
        )
    }

    /// The point as a table row.
    pub fn row(&self) -> String {
        format!(
            "{:<20} {:>8.1} {:>9.1} {:<8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2}",
            self.model,
            self.model_mb,
            self.image_bytes as f64 / 1e6,
            self.mode.name(),
            self.seal_ms,
            self.write_ms,
            self.save_ms,
            self.read_ms,
            self.open_ms,
            self.restore_ms
        )
    }
}

/// The speed-up of a PM mode over `ssd` for one model (Table I(b)).
#[derive(Debug, Clone)]
pub struct Speedup {
    /// The model.
    pub model: String,
    /// The PM mode.
    pub mode: MirrorMode,
    /// ssd save time over this mode's.
    pub save: f64,
    /// ssd write time over this mode's.
    pub write: f64,
    /// ssd restore time over this mode's.
    pub restore: f64,
    /// ssd read time over this mode's.
    pub read: f64,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Drops the clean pages of `path` from the page cache.
fn evict(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).map_err(ExperimentError::io(path, "cannot open"))?;
    // SAFETY: posix_fadvise takes an open file descriptor (owned by `f`, alive
    // for the call) and plain integers; it touches no memory of ours.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r != 0 {
        return Err(ExperimentError::io(path, "posix_fadvise(DONTNEED) failed")(
            std::io::Error::from_raw_os_error(r),
        ));
    }
    Ok(())
}

/// The timed mirror-outs and mirror-ins of one model in one mode.
struct Timings {
    outs: Vec<MirrorOutStats>,
    ins: Vec<MirrorInStats>,
}

/// Mirrors out and in `a.runs` times each (after a warm-up mirror-out).
fn time_mirrors(
    e: &mut Enclave,
    pool: &mut ptm::Pool,
    mode: MirrorMode,
    ckpt: &Path,
    a: &MirrorOptions,
) -> Result<Timings> {
    if mode == MirrorMode::Ssd {
        e.set_checkpoint_store(Box::new(FileCheckpoint::new(ckpt.to_path_buf())));
    }
    // The first mirror (at attach) touches every page; one more warms up.
    e.attach(pool)?;
    e.mirror_out(pool)?;
    let mut outs = Vec::new();
    for _ in 0..a.runs {
        outs.push(e.mirror_out(pool)?);
    }
    let mut ins = Vec::new();
    for _ in 0..a.runs {
        if mode == MirrorMode::Ssd && !a.warm_cache {
            evict(ckpt)?;
        }
        ins.push(e.mirror_in(pool)?);
    }
    Ok(Timings { outs, ins })
}

/// Bytes of learnable parameters (biases, scales, weights) in the image.
fn model_bytes(e: &Enclave) -> usize {
    e.image_layout()
        .records
        .iter()
        .filter(|r| {
            [".biases", ".scales", ".weights"]
                .iter()
                .any(|s| r.name.ends_with(s))
        })
        .map(|r| r.len)
        .sum()
}

/// Measures one model in one mode.
fn measure(
    ip: &InProcess,
    cfg: &Path,
    mode: MirrorMode,
    data: &Path,
    dirs: (&Path, &Path),
    a: &MirrorOptions,
) -> Result<MirrorPoint> {
    let (pools, ckpt_dir) = dirs;
    let text = std::fs::read_to_string(cfg).map_err(ExperimentError::io(cfg, "cannot read"))?;
    let config = TrainConfig {
        threads: 1,
        seed: 1,
        mirror: mode,
        mirror_every: 1,
    };
    let mut e = Enclave::new(ip.keys()?, &text, &cfg.display().to_string(), config)?;
    let data_len = std::fs::metadata(data)
        .map_err(ExperimentError::io(data, "cannot read"))?
        .len();
    let plan = e.plan(data_len);
    let path = pools.join(format!("{mode}.pool"));
    let ckpt = ckpt_dir.join(format!(".plinius-bench-mirror-{}.ckpt", std::process::id()));
    let _remove = (RemoveOnDrop(path.clone()), RemoveOnDrop(ckpt.clone()));
    let mut pool = pool_with_dataset(&path, &plan, data)?;
    let t = time_mirrors(&mut e, &mut pool, mode, &ckpt, a)?;
    drop(pool);
    let med = |f: &dyn Fn(usize) -> u64, n: usize| median((0..n).map(|i| ms(f(i))).collect());
    let (outs, ins) = (&t.outs, &t.ins);
    Ok(MirrorPoint {
        model: cfg.file_name().map_or(cfg.display().to_string(), |n| {
            n.to_string_lossy().into_owned()
        }),
        model_mb: model_bytes(&e) as f64 / 1e6,
        image_bytes: e.image_len(),
        mode,
        seal_ms: med(&|i| outs[i].seal_ns, outs.len()),
        write_ms: med(&|i| outs[i].persist_ns, outs.len()),
        save_ms: med(&|i| outs[i].total_ns, outs.len()),
        read_ms: med(&|i| ins[i].read_ns, ins.len()),
        open_ms: med(&|i| ins[i].open_ns, ins.len()),
        restore_ms: med(&|i| ins[i].total_ns, ins.len()),
    })
}

/// The speed-up of each PM mode over `ssd` for each model (Table I(b)).
pub fn speedups(points: &[MirrorPoint]) -> Vec<Speedup> {
    let mut out = Vec::new();
    for p in points.iter().filter(|p| p.mode != MirrorMode::Ssd) {
        if let Some(s) = points
            .iter()
            .find(|s| s.mode == MirrorMode::Ssd && s.model == p.model)
        {
            out.push(Speedup {
                model: p.model.clone(),
                mode: p.mode,
                save: s.save_ms / p.save_ms,
                write: s.write_ms / p.write_ms,
                restore: s.restore_ms / p.restore_ms,
                read: s.read_ms / p.read_ms,
            });
        }
    }
    out
}

fn check_options(a: &MirrorOptions) -> Result<()> {
    require(a.runs > 0, || "--runs must be at least 1".into())?;
    require(!a.cfgs.is_empty() && !a.modes.is_empty(), || {
        "give at least one --cfgs model and one --modes mode".into()
    })?;
    for c in &a.cfgs {
        require(c.is_file(), || {
            format!("{}: no such model cfg", c.display())
        })?;
    }
    Ok(())
}

/// Runs the mirror benchmark: the settings line, the table header and a row
/// per point go to `progress` as measured; the outputs are written to
/// `a.out`.
pub fn run(a: &MirrorOptions, progress: Progress<'_>) -> Result<MirrorReport> {
    check_options(a)?;
    out_dir(&a.out)?;
    let ckpt_dir = a.ckpt_dir.clone().unwrap_or_else(|| a.out.clone());
    let ip = InProcess::new()?;
    let data = ip.seal_mnist(&a.mnist, 64)?;
    let pools = pool_tempdir(a.pool_dir.as_deref())?;
    progress(&format!(
        "pools in {}, ssd checkpoint in {} ({} page cache before restores); {} runs each, medians",
        pools.path().display(),
        ckpt_dir.display(),
        if a.warm_cache { "warm" } else { "cold" },
        a.runs
    ));
    progress(&MirrorPoint::header());
    let mut points = Vec::new();
    for cfg in &a.cfgs {
        for &m in &a.modes {
            let p = measure(&ip, cfg, m, &data, (pools.path(), &ckpt_dir), a)?;
            progress(&p.row());
            points.push(p);
        }
    }
    let speedups = speedups(&points);
    write_outputs(&a.out, &points, &speedups)?;
    Ok(MirrorReport {
        points,
        speedups,
        out: a.out.clone(),
    })
}

/// The points and speed-ups of a run; shown as the speed-up table and the
/// list of outputs (the points went to the progress lines).
#[derive(Debug, Clone)]
pub struct MirrorReport {
    /// One point per model and mode, in order.
    pub points: Vec<MirrorPoint>,
    /// The speed-ups over ssd.
    pub speedups: Vec<Speedup>,
    /// The output directory.
    pub out: PathBuf,
}

impl fmt::Display for MirrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.speedups.is_empty() {
            writeln!(
                f,
                "\nspeed-up over ssd (Table I(b); the paper: save 3.2-3.5x, restore 2.5-3.7x)"
            )?;
            writeln!(
                f,
                "{:<20} {:<8} {:>8} {:>8} {:>8} {:>8}",
                "model", "mode", "save", "write", "restore", "read"
            )?;
            for s in &self.speedups {
                // A PM mirror is read in place (located and checked, not copied).
                let read = if s.read > 1000.0 {
                    ">1000x".to_string()
                } else {
                    format!("{:.1}x", s.read)
                };
                writeln!(
                    f,
                    "{:<20} {:<8} {:>7.1}x {:>7.1}x {:>7.1}x {:>8}",
                    s.model,
                    s.mode.name(),
                    s.save,
                    s.write,
                    s.restore,
                    read
                )?;
            }
        }
        writeln!(
            f,
            "\noutputs in {}: mirror.csv, mirror_speedup.csv, mirror_save.png, mirror_restore.png",
            self.out.display()
        )
    }
}

fn write_outputs(out: &Path, points: &[MirrorPoint], sp: &[Speedup]) -> Result<()> {
    let mut w = CsvWriter::create(
        out.join("mirror.csv"),
        &[
            "model",
            "model_mb",
            "image_bytes",
            "mode",
            "seal_ms",
            "write_ms",
            "save_ms",
            "read_ms",
            "open_ms",
            "restore_ms",
        ],
    )?;
    let f = |x: f64| format!("{x:.3}");
    for p in points {
        w.row(&[
            &p.model,
            &f(p.model_mb),
            &p.image_bytes,
            &p.mode.name(),
            &f(p.seal_ms),
            &f(p.write_ms),
            &f(p.save_ms),
            &f(p.read_ms),
            &f(p.open_ms),
            &f(p.restore_ms),
        ])?;
    }
    w.finish()?;
    let mut w = CsvWriter::create(
        out.join("mirror_speedup.csv"),
        &["model", "mode", "save_x", "write_x", "restore_x", "read_x"],
    )?;
    for s in sp {
        w.row(&[
            &s.model,
            &s.mode.name(),
            &f(s.save),
            &f(s.write),
            &f(s.restore),
            &f(s.read),
        ])?;
    }
    w.finish()?;
    let cats: Vec<String> = points
        .iter()
        .map(|p| format!("{:.0}MB {}", p.model_mb, short(p.mode)))
        .collect();
    let width = (160 + 95 * points.len() as u32).max(900);
    BarChart {
        title: "Save the sealed model: seal + write, median (Fig. 7a)".into(),
        y_label: "ms".into(),
        categories: cats.clone(),
        series: vec![
            ("seal".into(), points.iter().map(|p| p.seal_ms).collect()),
            ("write".into(), points.iter().map(|p| p.write_ms).collect()),
        ],
        stacked: true,
        size: (width, 650),
    }
    .save_png(out.join("mirror_save.png"))?;
    BarChart {
        title: "Restore the sealed model: read + open, median (Fig. 7b)".into(),
        y_label: "ms".into(),
        categories: cats,
        series: vec![
            ("read".into(), points.iter().map(|p| p.read_ms).collect()),
            ("open".into(), points.iter().map(|p| p.open_ms).collect()),
        ],
        stacked: true,
        size: (width, 650),
    }
    .save_png(out.join("mirror_restore.png"))?;
    Ok(())
}

fn short(m: MirrorMode) -> &'static str {
    match m {
        MirrorMode::Romulus => "rom",
        MirrorMode::Ab => "ab",
        MirrorMode::Ssd => "ssd",
    }
}
