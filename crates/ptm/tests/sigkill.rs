//! The real crash test: a child process runs swap transactions on a pool in
//! /dev/shm and is killed with SIGKILL at random moments; after each kill the
//! pool must reopen (recovering the interrupted transaction) and the array must
//! still be a permutation of 0..N with the right sum.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use ptm::{Pool, PoolOptions, PoolState, inspect_file};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const N: u64 = 50_000;

fn check(path: &Path) -> (bool, PoolState) {
    let state = inspect_file(path).unwrap().state;
    let pool = Pool::open(path, &PoolOptions::default()).unwrap();
    assert_eq!(pool.info().state, PoolState::Idle, "recovered to IDLE");
    let identity = pool.read(|v| {
        let a = v.root(0).unwrap();
        let s = v.slice::<u64>(a, N as usize).unwrap();
        let mut seen = vec![false; N as usize];
        let mut sum = 0u64;
        for &x in s {
            assert!(x < N && !seen[x as usize], "not a permutation: {x}");
            seen[x as usize] = true;
            sum += x;
        }
        assert_eq!(sum, N * (N - 1) / 2);
        v.heap_check().unwrap();
        s.iter().enumerate().all(|(i, x)| *x == i as u64)
    });
    (identity, state)
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_array() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("SKIPPED: /dev/shm is missing");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("kill.pool");
    let kills = std::env::var("PTM_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60u32);
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut interrupted = 0;
    let mut changed = 0;
    for k in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ptm-crash-child"))
            .args([path.to_str().unwrap(), &N.to_string(), &(k + 1).to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "child failed to start");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(500 + rng % 20_000));
        child.kill().unwrap(); // SIGKILL
        let st = child.wait().unwrap();
        assert!(!st.success(), "child must have been killed");
        let (identity, state) = check(&path);
        if state != PoolState::Idle {
            interrupted += 1;
        }
        if !identity {
            changed += 1;
        }
    }
    println!(
        "SIGKILL test: {kills} kills, {interrupted} left the pool mid-protocol (state word not IDLE), array permutation intact every time"
    );
    assert!(kills >= 50 || std::env::var("PTM_KILLS").is_ok());
    assert!(changed > 0, "the child never committed a swap");
    assert!(interrupted > 0, "no kill interrupted the protocol");
}
