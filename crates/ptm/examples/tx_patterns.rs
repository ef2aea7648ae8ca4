//! Transaction shapes beyond SPS, timed per transaction for each flush
//! strategy on plain memory (the flush instructions are real; nothing is
//! kept): guards the store-time flush against patterns that go back and forth
//! between lines.
//!
//! ```sh
//! cargo run --release -p ptm --example tx_patterns [-- --csv FILE]
//! ```
//!
//! - `push N`: N typed u64 writes appending to an array, each followed by a
//!   write of the array's length field (two lines in turn);
//! - `ping-pong N`: N pairs of writes alternating between two lines;
//! - `rotate3 N`, `rotate5 N`: N writes going round three (five) lines; five
//!   is more than the pool's window of recent lines holds;
//! - `list push N`: N pushes onto a linked list: a node, the head pointer and
//!   the element count (three lines per push);
//! - `scatter N`: N typed writes to random lines of a 2 MiB array;
//! - `slice 64K`: one 64 KiB write through a mutable slice;
//! - `one write`: a transaction of a single u64 write;
//! - `no write`: a write transaction that only reads.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use ptm::{FlushStrategy, MemBackend, Pool, PoolSize, PtmError};
use std::io::Write;
use std::time::{Duration, Instant};

/// Runs `f` repeatedly for about `budget`; returns the mean time per call.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed() / n.max(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let csv = match args.iter().position(|a| a == "--csv") {
        Some(i) => Some(args.get(i + 1).ok_or("--csv needs a file")?.clone()),
        None => None,
    };
    let strategies: Vec<FlushStrategy> = [
        FlushStrategy::Clwb,
        FlushStrategy::ClflushOpt,
        FlushStrategy::Eadr,
        FlushStrategy::None,
    ]
    .into_iter()
    .filter(|s| s.supported())
    .collect();
    let budget = Duration::from_millis(300);
    let main = 8usize << 20;
    let mut rows: Vec<(String, Vec<Duration>)> = Vec::new();
    for (si, &s) in strategies.iter().enumerate() {
        let pool = Pool::format(
            MemBackend::new(4096 + 2 * main, s),
            PoolSize::main(main as u64),
        )?;
        let a = pool.write(|tx| tx.alloc(4 << 20))?;
        let mut put = |name: String, d: Duration| {
            if si == 0 {
                rows.push((name, vec![d]));
            } else if let Some(r) = rows.iter_mut().find(|r| r.0 == name) {
                r.1.push(d);
            }
        };
        for n in [64u64, 1024, 8192] {
            let d = time(budget, || {
                pool.write(|tx| {
                    for i in 0..n {
                        tx.write(a + 64 + 8 * i, &i)?;
                        tx.write(a, &(i + 1))?;
                    }
                    Ok::<_, PtmError>(())
                })
                .expect("push");
            });
            put(format!("push {n}"), d);
        }
        for n in [100u64, 1000] {
            let d = time(budget, || {
                pool.write(|tx| {
                    for i in 0..n {
                        tx.write(a + 8 * (i % 8), &i)?;
                        tx.write(a + 4096 + 8 * (i % 8), &i)?;
                    }
                    Ok::<_, PtmError>(())
                })
                .expect("ping-pong");
            });
            put(format!("ping-pong {n}"), d);
        }
        for (k, n) in [(3u64, 1024u64), (3, 8192), (5, 1024)] {
            let d = time(budget, || {
                pool.write(|tx| {
                    for i in 0..n {
                        tx.write(a + 4096 * (i % k) + 8 * (i % 8), &i)?;
                    }
                    Ok::<_, PtmError>(())
                })
                .expect("rotate");
            });
            put(format!("rotate{k} {n}"), d);
        }
        let d = time(budget, || {
            pool.write(|tx| {
                let (head, count) = (a, a + 4096);
                let mut h: u64 = tx.read(head)?;
                for i in 0..1024u64 {
                    let node = a + 8192 + 16 * i;
                    tx.write(node, &[i, h])?;
                    h = node;
                    tx.write(head, &h)?;
                    tx.write(count, &(i + 1))?;
                }
                Ok::<_, PtmError>(())
            })
            .expect("list push");
        });
        put("list push 1024".into(), d);
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for n in [16u64, 1024] {
            let d = time(budget, || {
                pool.write(|tx| {
                    for _ in 0..n {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        tx.write(a + 8 * (x % (2 << 17)), &x)?;
                    }
                    Ok::<_, PtmError>(())
                })
                .expect("scatter");
            });
            put(format!("scatter {n}"), d);
        }
        let d = time(budget, || {
            pool.write(|tx| tx.bytes_mut(a + (1 << 20), 64 << 10).map(|b| b.fill(7)))
                .expect("slice");
        });
        put("slice 64K".into(), d);
        let mut i = 0u64;
        let d = time(budget, || {
            i += 1;
            pool.write(|tx| tx.write(a + 64 * (i % 1000), &i))
                .expect("one write");
        });
        put("one write".into(), d);
        let d = time(budget, || {
            pool.write(|tx| tx.read::<u64>(a).map(drop))
                .expect("no write");
        });
        put("no write".into(), d);
    }
    print!("{:<16}", "µs per tx");
    for s in &strategies {
        print!("{:>12}", s.to_string());
    }
    println!();
    for (name, ds) in &rows {
        print!("{name:<16}");
        for d in ds {
            print!("{:>12.3}", d.as_secs_f64() * 1e6);
        }
        println!();
    }
    if let Some(path) = csv {
        let mut f = std::fs::File::create(&path)?;
        writeln!(f, "pattern,flush,us_per_tx")?;
        for (name, ds) in &rows {
            for (s, d) in strategies.iter().zip(ds) {
                writeln!(f, "{name},{s},{:.3}", d.as_secs_f64() * 1e6)?;
            }
        }
        println!("wrote {path}");
    }
    Ok(())
}
