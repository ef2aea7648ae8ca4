//! Transaction shapes beyond SPS (those of `examples/tx_patterns.rs`), one
//! transaction per iteration on a [`MemBackend`] pool: guards the store-time
//! flush against patterns that go back and forth between lines.
//!
//! The flush strategy is `PLINIUS_FLUSH` if set, else the CPU's best cache-line
//! flush (the flush instructions are real; nothing is kept).
//!
//! - `push/N`: N u64 writes appending to an array, each followed by a write of
//!   the array's length field (two lines in turn);
//! - `ping-pong/N`: N pairs of writes alternating between two lines;
//! - `rotate3/N`, `rotate5/N`: N writes going round three (five) lines; five is
//!   more than the pool's window of recent lines holds;
//! - `list-push/1024`: pushes onto a linked list: a node, the head pointer and
//!   the element count (three lines per push);
//! - `scatter/N`: N writes to random lines of a 2 MiB array;
//! - `slice-64K`: one 64 KiB write through a mutable slice;
//! - `one-write`: a transaction of a single u64 write;
//! - `no-write`: a write transaction that only reads.
//!
//! ```sh
//! cargo bench -p ptm --bench tx_shapes        # or: -- --quick
//! ```

// A benchmark, not trusted code: it may read files and print.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use ptm::{FlushStrategy, MemBackend, Pool, PoolSize, PtmError, Tx};
use std::time::Duration;

/// Size of main (and of back).
const MAIN: u64 = 8 << 20;

type MemPool = Pool<MemBackend>;

/// Benchmarks one write transaction running `body` (given the transaction
/// and the iteration number) per iteration.
fn tx_bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    pool: &MemPool,
    name: &str,
    mut body: impl FnMut(&mut Tx<'_>, u64) -> Result<(), PtmError>,
) {
    let mut iteration = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            iteration += 1;
            pool.write(|tx| body(tx, iteration))
                .unwrap_or_else(|e| panic!("{name} transaction: {e}"));
        });
    });
}

/// Shapes that alternate between a few lines: push, ping-pong, rotations.
fn alternating(group: &mut BenchmarkGroup<'_, WallTime>, pool: &MemPool, a: u64) {
    for n in [64u64, 1024, 8192] {
        tx_bench(group, pool, &format!("push/{n}"), |tx, _| {
            for i in 0..n {
                tx.write(a + 64 + 8 * i, &i)?;
                tx.write(a, &(i + 1))?;
            }
            Ok(())
        });
    }
    for n in [100u64, 1000] {
        tx_bench(group, pool, &format!("ping-pong/{n}"), |tx, _| {
            for i in 0..n {
                tx.write(a + 8 * (i % 8), &i)?;
                tx.write(a + 4096 + 8 * (i % 8), &i)?;
            }
            Ok(())
        });
    }
    for (k, n) in [(3u64, 1024u64), (3, 8192), (5, 1024)] {
        tx_bench(group, pool, &format!("rotate{k}/{n}"), |tx, _| {
            for i in 0..n {
                tx.write(a + 4096 * (i % k) + 8 * (i % 8), &i)?;
            }
            Ok(())
        });
    }
}

/// A linked-list push, random scatter, a large slice, one write, no write.
fn other_shapes(group: &mut BenchmarkGroup<'_, WallTime>, pool: &MemPool, a: u64) {
    tx_bench(group, pool, "list-push/1024", |tx, _| {
        let (head, count) = (a, a + 4096);
        let mut h: u64 = tx.read(head)?;
        for i in 0..1024u64 {
            let node = a + 8192 + 16 * i;
            tx.write(node, &[i, h])?;
            h = node;
            tx.write(head, &h)?;
            tx.write(count, &(i + 1))?;
        }
        Ok(())
    });
    for n in [16u64, 1024] {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        tx_bench(group, pool, &format!("scatter/{n}"), |tx, _| {
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                tx.write(a + 8 * (x % (2 << 17)), &x)?;
            }
            Ok(())
        });
    }
    tx_bench(group, pool, "slice-64K", |tx, _| {
        tx.bytes_mut(a + (1 << 20), 64 << 10).map(|b| b.fill(7))
    });
    tx_bench(group, pool, "one-write", |tx, i| {
        tx.write(a + 64 * (i % 1000), &i)
    });
    tx_bench(group, pool, "no-write", |tx, _| tx.read::<u64>(a).map(drop));
}

fn tx_shapes(c: &mut Criterion) {
    let strategy = match FlushStrategy::from_env() {
        Ok(Some(s)) => s,
        Ok(None) => ptm::cpu_flush_support()
            .best_line_flush()
            .unwrap_or(FlushStrategy::None),
        Err(e) => panic!("PLINIUS_FLUSH: {e}"),
    };
    strategy
        .check_supported()
        .unwrap_or_else(|e| panic!("flush strategy {strategy}: {e}"));
    let backend = MemBackend::new(4096 + 2 * MAIN as usize, strategy);
    let pool = Pool::format(backend, PoolSize::main(MAIN)).expect("formatting the memory pool");
    let a = pool
        .write(|tx| tx.alloc(4 << 20))
        .expect("allocating the benchmark area");
    let mut group = c.benchmark_group(format!("tx_shapes/{strategy}"));
    alternating(&mut group, &pool, a);
    other_shapes(&mut group, &pool, a);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = tx_shapes
}
criterion_main!(benches);
