//! SPS micro-benchmark (the PLINIUS paper's Fig. 6 workload): write
//! transactions of N random swaps in a 10 MiB persistent array of u64.
//!
//! Two pools: a pool file (in /dev/shm when it exists, the emulated PM of
//! `plinius bench sps`; the flush strategy from `PLINIUS_FLUSH`, else chosen
//! from the CPU and the file system) and a [`MemBackend`] pool (the CPU's best
//! cache-line flush). Throughput is reported in swaps per second; after the
//! runs, each array must still be a permutation.
//!
//! ```sh
//! cargo bench -p ptm --bench sps             # or: -- --quick
//! ```

// A benchmark, not trusted code: it may read files and print.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ptm::{FlushStrategy, MemBackend, PmBackend, Pool, PoolOptions, PoolSize, PtmError};
use std::path::Path;
use std::time::Duration;

/// Size of the persistent array (the paper's).
const ARRAY_BYTES: u64 = 10 << 20;
/// Elements of the array.
const LEN: u64 = ARRAY_BYTES / 8;
/// Swaps per transaction (N) measured.
const SWAPS: [u64; 4] = [1, 16, 256, 2048];
/// Room in main beyond the array (allocator metadata).
const SLACK: u64 = 1 << 16;

/// xorshift64*: cheap random slots, the same generator for every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Allocates the array in `pool`, fills it with `0..LEN` and returns its offset.
fn init_array<B: PmBackend>(pool: &Pool<B>) -> u64 {
    pool.write(|tx| {
        let off = tx.alloc(ARRAY_BYTES)?;
        for (i, v) in tx
            .slice_mut::<u64>(off, LEN as usize)?
            .iter_mut()
            .enumerate()
        {
            *v = i as u64;
        }
        Ok::<_, PtmError>(off)
    })
    .expect("allocating and filling the SPS array")
}

/// Panics unless the array at `off` is a permutation of `0..LEN`.
fn assert_permutation<B: PmBackend>(pool: &Pool<B>, off: u64, what: &str) {
    let ok = pool
        .read(|v| {
            let s = v.slice::<u64>(off, LEN as usize)?;
            let mut seen = vec![false; s.len()];
            for &x in s {
                if x >= LEN || seen[x as usize] {
                    return Ok(false);
                }
                seen[x as usize] = true;
            }
            Ok::<_, PtmError>(true)
        })
        .expect("reading the SPS array");
    assert!(ok, "{what}: the SPS array is no longer a permutation");
}

/// Benchmarks transactions of N swaps for every N of [`SWAPS`] on `pool`.
fn swaps_on<B: PmBackend>(c: &mut Criterion, name: &str, pool: &Pool<B>) {
    let off = init_array(pool);
    let mut group = c.benchmark_group(format!("sps/{name}"));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in SWAPS {
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                pool.write(|tx| {
                    for _ in 0..n {
                        let i = off + 8 * rng.below(LEN);
                        let j = off + 8 * rng.below(LEN);
                        let a: u64 = tx.read(i)?;
                        let b: u64 = tx.read(j)?;
                        tx.write(i, &b)?;
                        tx.write(j, &a)?;
                    }
                    Ok::<_, PtmError>(())
                })
                .expect("swap transaction");
            });
        });
    }
    group.finish();
    assert_permutation(pool, off, name);
}

/// SPS on a pool file (in /dev/shm if present), as `plinius bench sps` runs it.
fn sps_file(c: &mut Criterion) {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("creating a directory for the benchmark pool");
    let path = dir.path().join("sps.pool");
    let pool = Pool::create(
        &path,
        PoolSize::main(ARRAY_BYTES + SLACK),
        &PoolOptions::default(),
    )
    .expect("creating the benchmark pool file");
    let name = format!("file-{}", pool.flush_strategy());
    swaps_on(c, &name, &pool);
}

/// SPS on a pool in ordinary memory with the CPU's best cache-line flush.
fn sps_mem(c: &mut Criterion) {
    let strategy = ptm::cpu_flush_support()
        .best_line_flush()
        .unwrap_or(FlushStrategy::None);
    let main = ARRAY_BYTES + SLACK;
    let backend = MemBackend::new(4096 + 2 * main as usize, strategy);
    let pool = Pool::format(backend, PoolSize::main(main)).expect("formatting the memory pool");
    swaps_on(c, &format!("mem-{strategy}"), &pool);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = sps_file, sps_mem
}
criterion_main!(benches);
