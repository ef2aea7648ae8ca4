//! Pool behaviour over the file back-end and plain memory: transactions, the
//! allocator, roots, the raw region, and bad input.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use ptm::{
    FlushStrategy, MemBackend, Pool, PoolOptions, PoolSize, PoolState, PtmError, inspect_file,
};
use std::path::PathBuf;

fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let p = base.path().join(name);
    (base, p)
}

/// A pool of `main` bytes (and `raw` raw bytes) on plain memory for every
/// flush strategy this CPU supports.
fn pools_of_every_strategy(
    main: usize,
    raw: usize,
) -> impl Iterator<Item = (FlushStrategy, Pool<MemBackend>)> {
    FlushStrategy::ALL
        .into_iter()
        .filter(|s| s.supported())
        .map(move |s| {
            let size = PoolSize {
                main: main as u64,
                raw: raw as u64,
            };
            let pool = Pool::format(MemBackend::new(4096 + 2 * main + raw, s), size).unwrap();
            (s, pool)
        })
}

/// Asserts the idle invariant recovery relies on: back equals main.
fn assert_back_equals_main(b: &MemBackend, main: usize, strategy: FlushStrategy) {
    assert!(
        b.bytes()[4096..4096 + main] == b.bytes()[4096 + main..4096 + 2 * main],
        "{strategy}: back differs from main"
    );
}

fn mem_pool(main: u64) -> Pool<MemBackend> {
    Pool::format(
        MemBackend::new(4096 + 2 * main as usize + 8192, FlushStrategy::None),
        PoolSize { main, raw: 8192 },
    )
    .unwrap()
}

#[test]
fn committed_writes_survive_reopen() {
    let (_d, p) = tmp("a.pool");
    let opts = PoolOptions::default();
    {
        let pool = Pool::create(&p, PoolSize::main(1 << 20), &opts).unwrap();
        pool.write(|tx| {
            let a = tx.alloc(800)?;
            tx.slice_mut::<u64>(a, 100)?
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = i as u64 * 3);
            tx.set_root(5, a)
        })
        .unwrap();
    }
    let pool = Pool::open(&p, &opts).unwrap();
    pool.read(|v| {
        let a = v.root(5).unwrap();
        assert_eq!(v.alloc_len(a).unwrap(), 832);
        let s = v.slice::<u64>(a, 100).unwrap();
        assert!(s.iter().enumerate().all(|(i, x)| *x == i as u64 * 3));
        v.heap_check().unwrap();
    });
    assert_eq!(pool.info().state, PoolState::Idle);
    assert_eq!(inspect_file(&p).unwrap().main_len, 1 << 20);
}

/// An error or a panic in the closure rolls back, whichever way lines are
/// logged and flushed: every write logged at once and flushed at commit
/// (msync, which plain memory runs without syncing), logged through the window
/// of recent lines without flushing (none), or flushed during the transaction
/// (clwb, clflushopt: the typed writes' lines are then partly flushed
/// already, partly still in the window). Back equals main afterwards.
#[test]
fn an_error_in_the_closure_rolls_back() {
    let main = 64usize << 10;
    for (strategy, pool) in pools_of_every_strategy(main, 8192) {
        let a = pool
            .write(|tx| {
                let a = tx.alloc(64)?;
                tx.write(a, &7u64)?;
                tx.set_root(0, a)?;
                Ok::<_, PtmError>(a)
            })
            .unwrap();
        let before = pool.read(|v| v.main().to_vec());
        let r: Result<(), PtmError> = pool.write(|tx| {
            tx.write(a, &99u64)?;
            let b = tx.alloc(1000)?;
            tx.set_root(1, b)?;
            // Typed writes over more lines than the window holds.
            for i in 0..40u64 {
                tx.write(b + 64 * (i % 15) + 3, &i)?;
            }
            // A typed write over several lines.
            tx.write(b + 100, &[5u64; 32])?;
            tx.bytes_mut(20_000, 30_000)?.fill(0xAB);
            Err(PtmError::BadRoot { index: 0, count: 0 })
        });
        assert!(r.is_err());
        assert_eq!(pool.read(|v| v.main().to_vec()), before, "{strategy}");
        // And a panic rolls back too (here after typed writes to two lines
        // only, both still in the window when it unwinds).
        let pr = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = pool.write(|tx| {
                for i in 0..20u64 {
                    tx.write(a + 8 * (i % 8) + 8192 * (i % 2), &i)?;
                }
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<_, PtmError>(())
            });
        }));
        assert!(pr.is_err());
        assert_eq!(pool.read(|v| v.main().to_vec()), before, "{strategy}");
        assert_back_equals_main(&pool.into_backend(), main, strategy);
    }
}

#[test]
fn a_full_pool_fails_the_transaction_and_rolls_back() {
    let pool = mem_pool(64 << 10);
    let before = pool.read(|v| v.main().to_vec());
    let r = pool.write(|tx| {
        let mut n = 0;
        loop {
            let a = tx.alloc(4000)?;
            tx.write(a, &1u64)?;
            n += 1;
            assert!(n < 100);
        }
        #[allow(unreachable_code)]
        Ok::<(), PtmError>(())
    });
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            PtmError::OutOfSpace {
                requested: 4000,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("<memory>"));
    assert_eq!(pool.read(|v| v.main().to_vec()), before);
    pool.read(|v| assert_eq!(v.heap_check().unwrap().used_blocks, 0));
}

#[test]
fn alloc_free_reuse_and_coalesce() {
    let pool = mem_pool(64 << 10);
    pool.write(|tx| {
        let a = tx.alloc(1000)?;
        let b = tx.alloc(1000)?;
        let c = tx.alloc(1000)?;
        assert!(a < b && b < c && a % 64 == 0);
        tx.free(a)?;
        tx.free(b)?;
        // a and b merge into a block big enough for 2000 bytes.
        let d = tx.alloc(2000)?;
        assert_eq!(d, a);
        assert!(matches!(tx.free(d + 64), Err(PtmError::BadFree { .. })));
        tx.free(d)?;
        assert!(matches!(tx.free(d), Err(PtmError::BadFree { .. })));
        tx.free(c)?;
        Ok::<_, PtmError>(())
    })
    .unwrap();
    pool.read(|v| {
        let st = v.heap_check().unwrap();
        assert_eq!(st.used_blocks, 0);
        assert_eq!(st.used_bytes, 0);
    });
    // Everything is free again: one allocation of almost all of main fits.
    pool.write(|tx| tx.alloc((64 << 10) - 1024 - 64).map(|_| ()))
        .unwrap();
}

#[test]
fn bounds_alignment_and_roots_are_checked() {
    let pool = mem_pool(64 << 10);
    let r = pool.write(|tx| tx.write((64 << 10) - 4, &1u64));
    assert!(matches!(r, Err(PtmError::OutOfBounds { .. })));
    let r = pool.write(|tx| tx.bytes_mut(u64::MAX - 2, 10).map(|_| ()));
    assert!(matches!(r, Err(PtmError::OutOfBounds { .. })));
    let r = pool.write(|tx| tx.slice_mut::<u64>(2001, 2).map(|_| ()));
    assert!(matches!(r, Err(PtmError::Misaligned { .. })));
    let r = pool.write(|tx| tx.set_root(64, 1));
    assert!(matches!(r, Err(PtmError::BadRoot { index: 64, .. })));
    pool.read(|v| {
        assert!(v.root(63).is_ok());
        assert!(v.root(64).is_err());
        assert!(v.read::<u64>(1 << 20).is_err());
    });
}

#[test]
fn raw_region_is_written_and_read() {
    let mut pool = mem_pool(64 << 10);
    assert_eq!(pool.raw_len(), 8192);
    {
        let mut w = pool.raw_mut();
        w.bytes_mut(100, 5).unwrap().copy_from_slice(b"hello");
        w.persist(100, 5).unwrap();
        w.store_u64(8, 77).unwrap();
        w.persist(8, 8).unwrap();
        w.fence();
        assert!(w.store_u64(9, 1).is_err());
        assert!(w.bytes_mut(8190, 4).is_err());
        assert_eq!(w.load_u64(8).unwrap(), 77);
    }
    assert_eq!(&pool.raw()[100..105], b"hello");
    // Transactions never touch raw.
    pool.write(|tx| tx.bytes_mut(0, 64 << 10).map(|b| b.fill(1)))
        .unwrap();
    assert_eq!(&pool.raw()[100..105], b"hello");
}

#[test]
fn big_write_commits() {
    let pool = mem_pool(8 << 20);
    pool.write(|tx| {
        let a = tx.alloc(6 << 20)?;
        tx.bytes_mut(a, 6 << 20)?.fill(0x5A);
        tx.set_root(0, a)
    })
    .unwrap();
    let img = pool.into_backend();
    // Reopen from the image: both copies must hold the data (IDLE).
    let pool = Pool::from_backend(MemBackend::from_bytes(img.bytes())).unwrap();
    pool.read(|v| {
        let a = v.root(0).unwrap();
        assert!(v.bytes(a, 6 << 20).unwrap().iter().all(|b| *b == 0x5A));
    });
    let b = pool.into_backend();
    let main = 8usize << 20;
    assert_eq!(
        b.bytes()[4096..4096 + main],
        b.bytes()[4096 + main..4096 + 2 * main]
    );
}

#[test]
fn a_region_longer_than_the_pool_reopens() {
    let pool = Pool::format(
        MemBackend::new(1 << 20, FlushStrategy::None),
        PoolSize::main(64 << 10),
    )
    .unwrap();
    pool.write(|tx| tx.set_root(3, 4096)).unwrap();
    let img = pool.into_backend();
    let pool = Pool::from_backend(MemBackend::from_bytes(img.bytes())).unwrap();
    assert_eq!(pool.read(|v| v.root(3)).unwrap(), 4096);
    // Too short is still an error.
    let short = &img.bytes()[..4096 + (64 << 10)];
    assert!(matches!(
        Pool::from_backend(MemBackend::from_bytes(short)),
        Err(PtmError::Truncated { .. })
    ));
}

#[test]
fn create_refuses_an_existing_file_and_open_never_creates() {
    let (_d, p) = tmp("exists.pool");
    std::fs::write(&p, b"precious user data").unwrap();
    let e = Pool::create(&p, PoolSize::main(1 << 16), &PoolOptions::default()).unwrap_err();
    assert!(matches!(e, PtmError::Exists { .. }), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"precious user data");
    let e = Pool::open(&p, &PoolOptions::default()).unwrap_err();
    assert!(matches!(e, PtmError::NotAPool { .. }), "{e}");
    assert!(e.to_string().contains("exists.pool"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"precious user data");
    let missing = p.with_file_name("missing.pool");
    let e = Pool::open(&missing, &PoolOptions::default()).unwrap_err();
    assert!(matches!(e, PtmError::Io { .. }) && e.to_string().contains("missing.pool"));
    assert!(!missing.exists());
    // Overwrite when asked.
    let o = PoolOptions {
        overwrite: true,
        ..Default::default()
    };
    Pool::create(&p, PoolSize::main(1 << 16), &o).unwrap();
    Pool::open(&p, &PoolOptions::default()).unwrap();
}

fn damaged(name: &str, f: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let (d, p) = tmp(name);
    drop(Pool::create(&p, PoolSize::main(1 << 16), &PoolOptions::default()).unwrap());
    let mut bytes = std::fs::read(&p).unwrap();
    f(&mut bytes);
    std::fs::write(&p, &bytes).unwrap();
    (d, p, bytes)
}

#[test]
fn bad_files_are_clear_errors_and_left_untouched() {
    type Damage = Box<dyn FnOnce(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "trunc.pool",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 4096)),
            "truncated",
        ),
        (
            "tiny.pool",
            Box::new(|b: &mut Vec<u8>| b.truncate(100)),
            "truncated",
        ),
        (
            "version.pool",
            Box::new(|b: &mut Vec<u8>| b[8] = 2),
            "version 2",
        ),
        (
            "sum.pool",
            Box::new(|b: &mut Vec<u8>| b[20] ^= 0x40),
            "checksum",
        ),
        (
            "longer.pool",
            Box::new(|b: &mut Vec<u8>| b.extend([0; 4096])),
            "header describes",
        ),
        (
            "state.pool",
            Box::new(|b: &mut Vec<u8>| b[64] = 3),
            "state word",
        ),
        (
            "heap.pool",
            Box::new(|b: &mut Vec<u8>| b[4096] ^= 1),
            "heap",
        ),
        (
            "foreign.pool",
            Box::new(|b: &mut Vec<u8>| b[0] = b'X'),
            "not a ptm pool",
        ),
    ];
    for (name, f, want) in cases {
        let (_d, p, bytes) = damaged(name, f);
        let e = Pool::open(&p, &PoolOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name} was modified");
    }
}

#[test]
fn a_second_opener_is_locked_out() {
    let (_d, p) = tmp("locked.pool");
    let pool = Pool::create(&p, PoolSize::main(1 << 16), &PoolOptions::default()).unwrap();
    let e = Pool::open(&p, &PoolOptions::default()).unwrap_err();
    assert!(matches!(e, PtmError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("locked.pool"));
    drop(pool);
    Pool::open(&p, &PoolOptions::default()).unwrap();
}

#[test]
fn flush_override_by_option_and_env() {
    let (_d, p) = tmp("flush.pool");
    let o = PoolOptions {
        flush: Some(FlushStrategy::Msync),
        ..Default::default()
    };
    let pool = Pool::create(&p, PoolSize::main(1 << 16), &o).unwrap();
    assert_eq!(pool.flush_strategy(), FlushStrategy::Msync);
    pool.write(|tx| tx.write(2048, &1u64)).unwrap();
    drop(pool);
    let pool = Pool::open(&p, &PoolOptions::default()).unwrap();
    let auto = pool.flush_strategy();
    if std::path::Path::new("/dev/shm").is_dir() && p.starts_with("/dev/shm") {
        assert_eq!(Some(auto), ptm::cpu_flush_support().best_line_flush());
    }
    drop(pool);
    // The environment variable is read when no option is given. (Set in a child
    // process so other tests are not affected.)
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ptm-crash-child"))
        .env("PLINIUS_FLUSH", "bogus")
        .args([p.with_file_name("env.pool").to_str().unwrap(), "8", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flush strategy"));
}

/// After every commit back must equal main (the idle invariant recovery relies
/// on), whichever way the lines were written and flushed: typed writes
/// (flushed as the transaction moves on, copied from the raw line list), runs
/// of typed writes into one line, writes straddling two lines, slices, and
/// enough scattered writes to overflow the raw list into merged ranges.
#[test]
fn back_equals_main_after_commits_with_every_strategy() {
    let main = 1usize << 20;
    for (strategy, pool) in pools_of_every_strategy(main, 0) {
        let a = pool.write(|tx| tx.alloc(900 << 10)).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..40u64 {
            pool.write(|tx| {
                let writes = if round % 10 == 9 {
                    40_000
                } else {
                    1 + round * 7
                };
                for _ in 0..writes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Any offset, unaligned: some u64s straddle two lines.
                    tx.write(a + x % ((900 << 10) - 8), &x)?;
                }
                for i in 0..20u64 {
                    tx.write(a + 4096 + 4 * i, &(round as u32 + i as u32))?;
                }
                // Going round three and five lines.
                for i in 0..60u64 {
                    tx.write(a + 8192 + 4096 * (i % 3), &i)?;
                    tx.write(a + 65536 + 4096 * (i % 5) + 8, &(i * round))?;
                }
                // A typed write over several lines.
                tx.write(a + 200_000 + round * 3, &[round; 25])?;
                tx.bytes_mut(a + (round * 977) % (800 << 10), 300)?
                    .fill(round as u8);
                Ok::<_, PtmError>(())
            })
            .unwrap();
        }
        assert_back_equals_main(&pool.into_backend(), main, strategy);
    }
}
