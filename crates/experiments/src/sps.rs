//! `plinius bench sps`: the SPS benchmark of the PLINIUS paper (Fig. 6).
//!
//! A persistent array of u64 (default 10 MiB) holds a permutation of 0..n; each
//! write transaction swaps N random pairs. For each N and each flush strategy the
//! benchmark runs transactions for S seconds on one thread and reports swaps per
//! microsecond. At the end the array must still be a permutation.

use crate::csv::CsvWriter;
use crate::plot::{LineChart, Series};
use anyhow::{Context, Result, bail, ensure};
use ptm::{FlushStrategy, Pool, PoolOptions, PoolSize, PtmError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `plinius bench sps`.
#[derive(clap::Args, Debug, Clone)]
pub struct SpsArgs {
    /// Swaps per transaction (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,64,128,256,512,1024,2048"
    )]
    pub swaps: Vec<u64>,
    /// Seconds of measurement per swaps-per-transaction value (and strategy).
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Flush strategies to measure (comma separated: clwb, clflushopt, clflush,
    /// msync, eadr, none). Default: the one chosen for the pool's file system.
    #[arg(long, value_delimiter = ',')]
    pub flush: Vec<FlushStrategy>,
    /// Pool file to create (must not exist; removed afterwards). Default: a
    /// fresh file in /dev/shm (emulated PM), else in the temporary directory.
    #[arg(long)]
    pub pool: Option<PathBuf>,
    /// Size of the persistent array in MiB.
    #[arg(long, default_value_t = 10.0)]
    pub array_mib: f64,
    /// Write the results as CSV (flush,swaps_per_tx,swaps_per_us).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Draw the results as a PNG line chart.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Seed of the random pair choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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

/// CPU time consumed by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec we pass.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// xorshift64* — cheap, good enough to pick array slots.
struct Rng(u64);
impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
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

/// Runs transactions of `n` random swaps for `dur`; returns (transactions,
/// elapsed wall time, thread CPU time).
pub fn measure<B: ptm::PmBackend>(
    pool: &Pool<B>,
    arr: SpsArray,
    n: u64,
    dur: Duration,
    seed: u64,
) -> Result<(u64, Duration, Duration)> {
    let mut rng = Rng(seed | 1);
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
    Ok((txs, wall, thread_cpu_time().saturating_sub(cpu0)))
}

/// Checks the array is still a permutation of 0..len (and its sum).
pub fn check_permutation<B: ptm::PmBackend>(pool: &Pool<B>, arr: SpsArray) -> Result<()> {
    pool.read(|v| {
        let s = v.slice::<u64>(arr.off, arr.len as usize)?;
        let mut seen = vec![false; s.len()];
        let mut sum = 0u128;
        for &x in s {
            ensure!(
                x < arr.len && !seen[x as usize],
                "array is not a permutation: value {x} repeated or out of range"
            );
            seen[x as usize] = true;
            sum += u128::from(x);
        }
        let n = u128::from(arr.len);
        ensure!(sum == n * (n - 1) / 2, "array sum {sum} is wrong");
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

/// Removes the pool file when dropped.
struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Measures every (strategy, N) pair; prints progress on stderr.
pub fn run_points(args: &SpsArgs) -> Result<Vec<SpsPoint>> {
    ensure!(!args.swaps.is_empty(), "--swaps needs at least one value");
    ensure!(
        args.swaps.iter().all(|n| *n >= 1),
        "--swaps values must be >= 1"
    );
    ensure!(args.seconds > 0.0, "--seconds must be positive");
    let len = (args.array_mib * 1024.0 * 1024.0 / 8.0) as u64;
    ensure!(len >= 2, "--array-mib is too small");
    let path = args.pool.clone().unwrap_or_else(default_pool_path);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let strategies = if args.flush.is_empty() {
        vec![match FlushStrategy::from_env()? {
            Some(s) => s,
            None => ptm::flush::auto_strategy(dir, false),
        }]
    } else {
        args.flush.clone()
    };
    let dur = Duration::from_secs_f64(args.seconds);
    let mut points = Vec::new();
    for &flush in &strategies {
        flush.check_supported()?;
        let opts = PoolOptions {
            flush: Some(flush),
            ..Default::default()
        };
        let size = PoolSize::main(len * 8 + (1 << 16));
        let pool = Pool::create(&path, size, &opts)
            .with_context(|| format!("creating the benchmark pool {}", path.display()))?;
        let _cleanup = RemoveOnDrop(path.clone());
        let arr = init_array(&pool, len)?;
        // Warm up the array and the caches (not measured).
        measure(
            &pool,
            arr,
            64,
            Duration::from_millis(200),
            args.seed ^ 0xABCD,
        )?;
        for &n in &args.swaps {
            let (txs, el, cpu) = measure(&pool, arr, n, dur, args.seed.wrapping_add(n))?;
            let p = SpsPoint {
                flush,
                swaps_per_tx: n,
                txs,
                swaps_per_us: (txs * n) as f64 / (el.as_secs_f64() * 1e6),
                cpu_share: cpu.as_secs_f64() / el.as_secs_f64(),
            };
            eprintln!(
                "  {flush:<10} N={n:<5} {:>8.3} swaps/µs  ({txs} transactions in {:.2} s, {:.0}% of a CPU)",
                p.swaps_per_us,
                el.as_secs_f64(),
                100.0 * p.cpu_share
            );
            points.push(p);
        }
        check_permutation(&pool, arr)
            .with_context(|| format!("after the {flush} runs on {}", path.display()))?;
        eprintln!("  {flush}: the array is still a permutation of 0..{len}");
    }
    Ok(points)
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
    .save_png(path)
}

/// Runs `plinius bench sps`.
pub fn run(args: SpsArgs) -> Result<()> {
    if let Some(p) = &args.pool {
        if p.exists() {
            bail!(
                "{}: exists; the benchmark creates (and removes) its own pool file, give a new path",
                p.display()
            );
        }
    }
    eprintln!(
        "SPS: {} MiB array, {} s per point, N = {:?}",
        args.array_mib, args.seconds, args.swaps
    );
    let points = run_points(&args)?;
    println!("swaps/µs (single thread)");
    print!("{}", table(&points));
    let share = points.iter().map(|p| p.cpu_share).fold(1.0, f64::min);
    if share < 0.9 {
        println!(
            "note: the benchmark thread got as little as {:.0}% of a CPU: the machine is loaded and these figures are low",
            100.0 * share
        );
        println!(
            "swaps per µs of the thread's own CPU time (an estimate for an idle machine; cache and memory contention remain)"
        );
        let per_cpu: Vec<SpsPoint> = points
            .iter()
            .map(|p| SpsPoint {
                swaps_per_us: p.swaps_per_us / p.cpu_share.max(1e-9),
                ..*p
            })
            .collect();
        print!("{}", table(&per_cpu));
    }
    if let Some(c) = &args.csv {
        write_csv(c, &points)?;
        eprintln!("wrote {}", c.display());
    }
    if let Some(p) = &args.plot {
        write_plot(p, &points, args.array_mib)?;
        eprintln!("wrote {}", p.display());
    }
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
        let (txs, _, _) = measure(&pool, arr, 16, Duration::from_millis(20), 7).unwrap();
        assert!(txs > 0);
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
    }
}
