//! Test helper for the SIGKILL crash test: opens (or creates) a pool holding a
//! u64 array that is a permutation of 0..n, then swaps random pairs in
//! transactions until killed. Usage: `ptm-crash-child POOL N SEED`.
//!
//! A test program, not library code: it takes arguments and prints.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use ptm::{Pool, PoolOptions, PoolSize};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, n, seed] = &args[..] else {
        return Err("usage: ptm-crash-child POOL N SEED".into());
    };
    let n: u64 = n.parse()?;
    let mut rng: u64 = seed.parse()?;
    let opts = PoolOptions::default();
    let pool = match Pool::open(path, &opts) {
        Ok(p) => p,
        Err(ptm::PtmError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let p = Pool::create(path, PoolSize::main(n * 8 + 65536), &opts)?;
            p.write(|tx| {
                let a = tx.alloc(n * 8)?;
                let s = tx.slice_mut::<u64>(a, n as usize)?;
                for (i, v) in s.iter_mut().enumerate() {
                    *v = i as u64;
                }
                tx.set_root(0, a)
            })?;
            p
        }
        Err(e) => return Err(e.into()),
    };
    let arr = pool.read(|v| v.root(0))?;
    println!("ready");
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    loop {
        let swaps = 1 + next() % 64;
        pool.write(|tx| {
            for _ in 0..swaps {
                let (i, j) = (next() % n, next() % n);
                let (oi, oj) = (arr + 8 * i, arr + 8 * j);
                let (a, b) = (tx.read::<u64>(oi)?, tx.read::<u64>(oj)?);
                tx.write(oi, &b)?;
                tx.write(oj, &a)?;
            }
            Ok::<_, ptm::PtmError>(())
        })?;
    }
}
