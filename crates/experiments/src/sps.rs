//! `plinius bench sps`: the SPS benchmark of the PLINIUS paper (Fig. 6).
//!
//! A persistent array of u64 (default 10 MiB) holds a permutation of 0..n; each
//! write transaction swaps N random pairs. For each N and each flush strategy the
//! benchmark runs transactions for S seconds on one thread and reports swaps per
//! microsecond. At the end the array must still be a permutation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ptm::{FlushStrategy, Pool, PoolOptions, PoolSize, PtmError};

use crate::Progress;
use crate::csv::CsvWriter;
use crate::error::{Context, ExperimentError, Result, require};
use crate::plot::{LineChart, Series};
use crate::pools::RemoveOnDrop;
use crate::stats::{XorShift64Star, thread_cpu_time};

/// The settings of the SPS benchmark.
#[derive(Debug, Clone)]
pub struct SpsOptions {
    /// Swaps per transaction, one measurement each.
    pub swaps: Vec<u64>,
    /// Seconds of measurement per swaps-per-transaction value (and strategy).
    pub seconds: f64,
    /// Flush strategies to measure (empty: the one chosen for the pool's file
    /// system, or `PLINIUS_FLUSH`).
    pub flush: Vec<FlushStrategy>,
    /// Pool file to create (must not exist; removed afterwards). Default: a
    /// fresh file in /dev/shm (emulated PM), else in the temporary directory.
    pub pool: Option<PathBuf>,
    /// Size of the persistent array in MiB.
    pub array_mib: f64,
    /// Seed of the random pair choice.
    pub seed: u64,
}

impl Default for SpsOptions {
    fn default() -> Self {
        SpsOptions {
            swaps: vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
            seconds: 4.0,
            flush: Vec::new(),
            pool: None,
            array_mib: 10.0,
            seed: 1,
        }
    }
}

/// One measured point.
#[derive(Clone, Copy, Debug)]
pub struct SpsPoint {
    /// The flush strategy.
    pub flush: FlushStrategy,
    /// Swaps per transaction (N).
    pub swaps_per_tx: u64,
    /// Transactions completed.
    pub txs: u64,
    /// Measured throughput (wall clock).
    pub swaps_per_us: f64,
    /// Share of one CPU the benchmark thread got while measuring (1.0 on an
    /// idle machine; lower when other processes compete for the cores).
    pub cpu_share: f64,
}

/// The persistent array of an SPS pool: offset in main and element count.
#[derive(Clone, Copy, Debug)]
pub struct SpsArray {
    /// Offset of element 0 in main.
    pub off: u64,
    /// Number of u64 elements.
    pub len: u64,
}

/// Allocates the array in `pool` and fills it with 0..len (one transaction).
pub fn init_array<B: ptm::PmBackend>(pool: &Pool<B>, len: u64) -> Result<SpsArray> {
    let off = pool.write(|tx| {
        let off = tx.alloc(len * 8)?;
        for (i, v) in tx
            .slice_mut::<u64>(off, len as usize)?
            .iter_mut()
            .enumerate()
        {
            *v = i as u64;
        }
        tx.set_root(0, off)?;
        Ok::<_, PtmError>(off)
    })?;
    Ok(SpsArray { off, len })
}

/// What [`measure`] did: transactions, wall time and the thread's CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Transactions completed.
    pub txs: u64,
    /// Elapsed wall time.
    pub wall: Duration,
    /// CPU time of the measuring thread.
    pub cpu: Duration,
}

/// Runs transactions of `n` random swaps for `dur`.
pub fn measure<B: ptm::PmBackend>(
    pool: &Pool<B>,
    arr: SpsArray,
    n: u64,
    dur: Duration,
    seed: u64,
) -> Result<Measured> {
    let mut rng = XorShift64Star::new(seed);
    let check_every = (4096 / n.max(1)).max(1);
    let cpu0 = thread_cpu_time();
    let start = Instant::now();
    let mut txs = 0u64;
    loop {
        pool.write(|tx| {
            for _ in 0..n {
                let i = arr.off + 8 * rng.below(arr.len);
                let j = arr.off + 8 * rng.below(arr.len);
                let a: u64 = tx.read(i)?;
                let b: u64 = tx.read(j)?;
                tx.write(i, &b)?;
                tx.write(j, &a)?;
            }
            Ok::<_, PtmError>(())
        })?;
        txs += 1;
        if txs % check_every == 0 && start.elapsed() >= dur {
            break;
        }
    }
    let wall = start.elapsed();
    Ok(Measured {
        txs,
        wall,
        cpu: thread_cpu_time().saturating_sub(cpu0),
    })
}

/// Checks the array is still a permutation of 0..len (and its sum).
pub fn check_permutation<B: ptm::PmBackend>(pool: &Pool<B>, arr: SpsArray) -> Result<()> {
    pool.read(|v| {
        let s = v.slice::<u64>(arr.off, arr.len as usize)?;
        let mut seen = vec![false; s.len()];
        let mut sum = 0u128;
        for &x in s {
            if x >= arr.len || seen[x as usize] {
                return Err(ExperimentError::Check(format!(
                    "array is not a permutation: value {x} repeated or out of range"
                )));
            }
            seen[x as usize] = true;
            sum += u128::from(x);
        }
        let n = u128::from(arr.len);
        if sum != n * (n - 1) / 2 {
            return Err(ExperimentError::Check(format!("array sum {sum} is wrong")));
        }
        Ok(())
    })
}

fn default_pool_path() -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("plinius-sps-{}.pool", std::process::id()))
}

/// The flush strategies to measure: the chosen ones, else the one for `dir`.
fn strategies(opts: &SpsOptions, dir: &Path) -> Result<Vec<FlushStrategy>> {
    if !opts.flush.is_empty() {
        return Ok(opts.flush.clone());
    }
    Ok(vec![match FlushStrategy::from_env()? {
        Some(s) => s,
        None => ptm::flush::auto_strategy(dir, false),
    }])
}

/// Checks the options; returns the array length in elements.
fn check_options(opts: &SpsOptions) -> Result<u64> {
    if let Some(p) = &opts.pool {
        require(!p.exists(), || {
            format!(
                "{}: exists; the benchmark creates (and removes) its own pool file, give a new path",
                p.display()
            )
        })?;
    }
    require(!opts.swaps.is_empty(), || {
        "--swaps needs at least one value".into()
    })?;
    require(opts.swaps.iter().all(|n| *n >= 1), || {
        "--swaps values must be >= 1".into()
    })?;
    require(opts.seconds > 0.0, || "--seconds must be positive".into())?;
    let len = (opts.array_mib * 1024.0 * 1024.0 / 8.0) as u64;
    require(len >= 2, || "--array-mib is too small".into())?;
    Ok(len)
}

/// Measures every N with one flush strategy in a fresh pool at `path`.
fn measure_strategy(
    opts: &SpsOptions,
    flush: FlushStrategy,
    path: &Path,
    len: u64,
    progress: Progress<'_>,
) -> Result<Vec<SpsPoint>> {
    flush.check_supported()?;
    let pool_opts = PoolOptions {
        flush: Some(flush),
        ..Default::default()
    };
    let size = PoolSize::main(len * 8 + (1 << 16));
    let pool = Pool::create(path, size, &pool_opts)
        .context_with(|| format!("creating the benchmark pool {}", path.display()))?;
    let _cleanup = RemoveOnDrop(path.to_path_buf());
    let arr = init_array(&pool, len)?;
    // Warm up the array and the caches (not measured).
    measure(
        &pool,
        arr,
        64,
        Duration::from_millis(200),
        opts.seed ^ 0xABCD,
    )?;
    let dur = Duration::from_secs_f64(opts.seconds);
    let mut points = Vec::new();
    for &n in &opts.swaps {
        let m = measure(&pool, arr, n, dur, opts.seed.wrapping_add(n))?;
        let p = SpsPoint {
            flush,
            swaps_per_tx: n,
            txs: m.txs,
            swaps_per_us: (m.txs * n) as f64 / (m.wall.as_secs_f64() * 1e6),
            cpu_share: m.cpu.as_secs_f64() / m.wall.as_secs_f64(),
        };
        progress(&format!(
            "  {flush:<10} N={n:<5} {:>8.3} swaps/µs  ({} transactions in {:.2} s, {:.0}% of a CPU)",
            p.swaps_per_us,
            m.txs,
            m.wall.as_secs_f64(),
            100.0 * p.cpu_share
        ));
        points.push(p);
    }
    check_permutation(&pool, arr)
        .context_with(|| format!("after the {flush} runs on {}", path.display()))?;
    progress(&format!(
        "  {flush}: the array is still a permutation of 0..{len}"
    ));
    Ok(points)
}

/// Runs the SPS benchmark: every (strategy, N) pair, progress lines as it goes.
pub fn run(opts: &SpsOptions, progress: Progress<'_>) -> Result<SpsReport> {
    let len = check_options(opts)?;
    progress(&format!(
        "SPS: {} MiB array, {} s per point, N = {:?}",
        opts.array_mib, opts.seconds, opts.swaps
    ));
    let path = opts.pool.clone().unwrap_or_else(default_pool_path);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut points = Vec::new();
    for flush in strategies(opts, dir)? {
        points.extend(measure_strategy(opts, flush, &path, len, progress)?);
    }
    Ok(SpsReport { points })
}

/// The measured points of a run; shown as the table(s) of swaps/µs.
#[derive(Clone, Debug)]
pub struct SpsReport {
    /// Every (strategy, N) point, in the order measured.
    pub points: Vec<SpsPoint>,
}

impl fmt::Display for SpsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "swaps/µs (single thread)")?;
        write!(f, "{}", table(&self.points))?;
        let share = self.points.iter().map(|p| p.cpu_share).fold(1.0, f64::min);
        if share < 0.9 {
            writeln!(
                f,
                "note: the benchmark thread got as little as {:.0}% of a CPU: the machine is loaded and these figures are low",
                100.0 * share
            )?;
            writeln!(
                f,
                "swaps per µs of the thread's own CPU time (an estimate for an idle machine; cache and memory contention remain)"
            )?;
            let per_cpu: Vec<SpsPoint> = self
                .points
                .iter()
                .map(|p| SpsPoint {
                    swaps_per_us: p.swaps_per_us / p.cpu_share.max(1e-9),
                    ..*p
                })
                .collect();
            write!(f, "{}", table(&per_cpu))?;
        }
        Ok(())
    }
}

/// Formats the table: one row per N, one column per strategy.
pub fn table(points: &[SpsPoint]) -> String {
    let mut flushes: Vec<FlushStrategy> = Vec::new();
    let mut ns: Vec<u64> = Vec::new();
    for p in points {
        if !flushes.contains(&p.flush) {
            flushes.push(p.flush);
        }
        if !ns.contains(&p.swaps_per_tx) {
            ns.push(p.swaps_per_tx);
        }
    }
    let mut s = format!("{:>6}", "N");
    for f in &flushes {
        s += &format!(" {:>12}", f.name());
    }
    s += "\n";
    for n in ns {
        s += &format!("{n:>6}");
        for f in &flushes {
            match points.iter().find(|p| p.flush == *f && p.swaps_per_tx == n) {
                Some(p) => s += &format!(" {:>12.3}", p.swaps_per_us),
                None => s += &format!(" {:>12}", "-"),
            }
        }
        s += "\n";
    }
    s
}

/// Writes the CSV (`flush,swaps_per_tx,swaps_per_us`).
pub fn write_csv(path: &Path, points: &[SpsPoint]) -> Result<()> {
    let mut w = CsvWriter::create(path, &["flush", "swaps_per_tx", "swaps_per_us"])?;
    for p in points {
        w.row(&[&p.flush, &p.swaps_per_tx, &format!("{:.4}", p.swaps_per_us)])?;
    }
    w.finish()?;
    Ok(())
}

/// Draws Fig. 6: swaps/µs against swaps per transaction (log2), one line per strategy.
pub fn write_plot(path: &Path, points: &[SpsPoint], array_mib: f64) -> Result<()> {
    let mut series: Vec<Series> = Vec::new();
    for p in points {
        let name = format!("ptm ({})", p.flush);
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((p.swaps_per_tx as f64, p.swaps_per_us)),
            None => series.push(Series::new(
                name,
                vec![(p.swaps_per_tx as f64, p.swaps_per_us)],
            )),
        }
    }
    LineChart {
        title: format!("SPS: random swaps in a {array_mib} MiB persistent array (1 thread)"),
        x_label: "swaps per transaction".into(),
        y_label: "swaps / µs".into(),
        log2_x: true,
        series,
        ..Default::default()
    }
    .save_png(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ptm::MemBackend;

    #[test]
    fn swaps_keep_a_permutation_and_the_table_lists_points() {
        let pool = Pool::format(
            MemBackend::new(4096 + 2 * (1 << 20), FlushStrategy::None),
            PoolSize::main(1 << 20),
        )
        .unwrap();
        let arr = init_array(&pool, 1000).unwrap();
        let m = measure(&pool, arr, 16, Duration::from_millis(20), 7).unwrap();
        assert!(m.txs > 0 && m.wall >= Duration::from_millis(20));
        check_permutation(&pool, arr).unwrap();
        // A broken array is detected.
        pool.write(|tx| tx.write(arr.off, &5u64)).unwrap();
        assert!(check_permutation(&pool, arr).is_err());
        let pts = [SpsPoint {
            flush: FlushStrategy::Clwb,
            swaps_per_tx: 16,
            txs: 1,
            swaps_per_us: 9.5,
            cpu_share: 1.0,
        }];
        let t = table(&pts);
        assert!(t.contains("clwb") && t.contains("9.500"), "{t}");
        let loaded = SpsReport {
            points: vec![SpsPoint {
                cpu_share: 0.5,
                ..pts[0]
            }],
        };
        let shown = loaded.to_string();
        assert!(
            shown.contains("50% of a CPU") && shown.contains("19.000"),
            "{shown}"
        );
        let d = tempfile::tempdir().unwrap();
        write_csv(&d.path().join("s.csv"), &pts).unwrap();
        let csv = std::fs::read_to_string(d.path().join("s.csv")).unwrap();
        assert_eq!(csv, "flush,swaps_per_tx,swaps_per_us\nclwb,16,9.5000\n");
    }
}
