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

use anyhow::{Context, Result, bail};
use enclave::{Enclave, MirrorMode, TrainConfig};
use std::path::{Path, PathBuf};

use crate::csv::CsvWriter;
use crate::experiment::MirrorArg;
use crate::experiment::{InProcess, median, out_dir, pool_tempdir, pool_with_dataset};
use crate::plot::BarChart;
use host::ckpt::FileCheckpoint;

/// Arguments of `plinius bench mirror`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchMirrorArgs {
    /// The models (comma separated), smallest first.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cfg/sweep/sweep-10mb.cfg,cfg/sweep/sweep-25mb.cfg,cfg/sweep/sweep-50mb.cfg,cfg/sweep/sweep-75mb.cfg,cfg/sweep/sweep-100mb.cfg"
    )]
    pub cfgs: Vec<PathBuf>,
    /// Mirror modes (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "romulus,ab,ssd"
    )]
    pub modes: Vec<MirrorArg>,
    /// Timed saves and restores per model and mode (medians are reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where pools go (default: /dev/shm, else the temporary directory).
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
    /// Where the ssd checkpoint goes (default: the output directory; it should
    /// be on the disk being measured, not on tmpfs).
    #[arg(long)]
    pub ckpt_dir: Option<PathBuf>,
    /// Leave the checkpoint in the page cache before ssd restores.
    #[arg(long)]
    pub warm_cache: bool,
    /// Directory with the MNIST gzip IDX files (a few samples fill the pool's dataset area).
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Output directory (mirror.csv, mirror_save.png, mirror_restore.png).
    #[arg(long)]
    pub out: PathBuf,
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

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Drops the clean pages of `path` from the page cache.
fn evict(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    // SAFETY: posix_fadvise takes an open file descriptor (owned by `f`, alive
    // for the call) and plain integers; it touches no memory of ours.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r != 0 {
        bail!(
            "{}: posix_fadvise(DONTNEED) failed: {}",
            path.display(),
            std::io::Error::from_raw_os_error(r)
        );
    }
    Ok(())
}

/// Measures one model in one mode.
fn measure(
    ip: &InProcess,
    cfg: &Path,
    mode: MirrorMode,
    data: &Path,
    pools: &Path,
    ckpt_dir: &Path,
    a: &BenchMirrorArgs,
) -> Result<MirrorPoint> {
    let text =
        std::fs::read_to_string(cfg).with_context(|| format!("{}: cannot read", cfg.display()))?;
    let config = TrainConfig {
        threads: 1,
        seed: 1,
        mirror: mode,
        mirror_every: 1,
    };
    let mut e = Enclave::new(ip.keys()?, &text, &cfg.display().to_string(), config)?;
    let data_len = std::fs::metadata(data)?.len();
    let plan = e.plan(data_len);
    let path = pools.join(format!("{mode}.pool"));
    let ckpt = ckpt_dir.join(format!(".plinius-bench-mirror-{}.ckpt", std::process::id()));
    let mut pool = pool_with_dataset(&path, &plan, data)?;
    let res = (|| -> Result<MirrorPoint> {
        if mode == MirrorMode::Ssd {
            e.set_checkpoint_store(Box::new(FileCheckpoint::new(ckpt.clone())));
        }
        // The first mirror (at attach) touches every page; one more warms up.
        e.attach(&mut pool)?;
        e.mirror_out(&mut pool)?;
        let mut outs = Vec::new();
        for _ in 0..a.runs {
            outs.push(e.mirror_out(&mut pool)?);
        }
        let mut ins = Vec::new();
        for _ in 0..a.runs {
            if mode == MirrorMode::Ssd && !a.warm_cache {
                evict(&ckpt)?;
            }
            ins.push(e.mirror_in(&pool)?);
        }
        let med = |f: &dyn Fn(usize) -> u64, n: usize| median((0..n).map(|i| ms(f(i))).collect());
        let model_bytes: usize = e
            .image_layout()
            .records
            .iter()
            .filter(|r| {
                [".biases", ".scales", ".weights"]
                    .iter()
                    .any(|s| r.name.ends_with(s))
            })
            .map(|r| r.len)
            .sum();
        Ok(MirrorPoint {
            model: cfg.file_name().map_or(cfg.display().to_string(), |n| {
                n.to_string_lossy().into_owned()
            }),
            model_mb: model_bytes as f64 / 1e6,
            image_bytes: e.image_len(),
            mode,
            seal_ms: med(&|i| outs[i].seal_ns, outs.len()),
            write_ms: med(&|i| outs[i].persist_ns, outs.len()),
            save_ms: med(&|i| outs[i].total_ns, outs.len()),
            read_ms: med(&|i| ins[i].read_ns, ins.len()),
            open_ms: med(&|i| ins[i].open_ns, ins.len()),
            restore_ms: med(&|i| ins[i].total_ns, ins.len()),
        })
    })();
    drop(pool);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&ckpt);
    res
}

/// The speed-up of `mode` over `ssd` for each model: (model, mode, save,
/// write, restore, read) ratios, Table I(b).
pub fn speedups(points: &[MirrorPoint]) -> Vec<(String, MirrorMode, [f64; 4])> {
    let mut out = Vec::new();
    for p in points.iter().filter(|p| p.mode != MirrorMode::Ssd) {
        if let Some(s) = points
            .iter()
            .find(|s| s.mode == MirrorMode::Ssd && s.model == p.model)
        {
            out.push((
                p.model.clone(),
                p.mode,
                [
                    s.save_ms / p.save_ms,
                    s.write_ms / p.write_ms,
                    s.restore_ms / p.restore_ms,
                    s.read_ms / p.read_ms,
                ],
            ));
        }
    }
    out
}

/// Runs `plinius bench mirror`.
pub fn run(a: BenchMirrorArgs) -> Result<()> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if a.cfgs.is_empty() || a.modes.is_empty() {
        bail!("give at least one --cfgs model and one --modes mode");
    }
    for c in &a.cfgs {
        if !c.is_file() {
            bail!("{}: no such model cfg", c.display());
        }
    }
    out_dir(&a.out)?;
    let ckpt_dir = a.ckpt_dir.clone().unwrap_or_else(|| a.out.clone());
    let ip = InProcess::new()?;
    let data = ip.seal_mnist(&a.mnist, 64)?;
    let pools = pool_tempdir(a.pool_dir.as_deref())?;
    println!(
        "pools in {}, ssd checkpoint in {} ({} page cache before restores); {} runs each, medians",
        pools.path().display(),
        ckpt_dir.display(),
        if a.warm_cache { "warm" } else { "cold" },
        a.runs
    );
    let mut points = Vec::new();
    println!(
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
    );
    for cfg in &a.cfgs {
        for &m in &a.modes {
            let p = measure(&ip, cfg, m.into(), &data, pools.path(), &ckpt_dir, &a)?;
            println!(
                "{:<20} {:>8.1} {:>9.1} {:<8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2}",
                p.model,
                p.model_mb,
                p.image_bytes as f64 / 1e6,
                p.mode.name(),
                p.seal_ms,
                p.write_ms,
                p.save_ms,
                p.read_ms,
                p.open_ms,
                p.restore_ms
            );
            points.push(p);
        }
    }
    let sp = speedups(&points);
    if !sp.is_empty() {
        println!("\nspeed-up over ssd (Table I(b); the paper: save 3.2-3.5x, restore 2.5-3.7x)");
        println!(
            "{:<20} {:<8} {:>8} {:>8} {:>8} {:>8}",
            "model", "mode", "save", "write", "restore", "read"
        );
        for (m, mode, r) in &sp {
            // A PM mirror is read in place (located and checked, not copied).
            let read = if r[3] > 1000.0 {
                ">1000x".to_string()
            } else {
                format!("{:.1}x", r[3])
            };
            println!(
                "{:<20} {:<8} {:>7.1}x {:>7.1}x {:>7.1}x {:>8}",
                m,
                mode.name(),
                r[0],
                r[1],
                r[2],
                read
            );
        }
    }
    write_outputs(&a.out, &points, &sp)?;
    println!(
        "\noutputs in {}: mirror.csv, mirror_speedup.csv, mirror_save.png, mirror_restore.png",
        a.out.display()
    );
    Ok(())
}

fn write_outputs(
    out: &Path,
    points: &[MirrorPoint],
    sp: &[(String, MirrorMode, [f64; 4])],
) -> Result<()> {
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
    for (m, mode, r) in sp {
        w.row(&[m, &mode.name(), &f(r[0]), &f(r[1]), &f(r[2]), &f(r[3])])?;
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
    .save_png(out.join("mirror_restore.png"))
}

fn short(m: MirrorMode) -> &'static str {
    match m {
        MirrorMode::Romulus => "rom",
        MirrorMode::Ab => "ab",
        MirrorMode::Ssd => "ssd",
    }
}
