//! Mirror-out/in of a ~100 MB model (weights and momentum) on a pool file in
//! /dev/shm with the best cache-line flush: run with
//! `cargo test --release -p enclave --features perf-file -- --ignored --nocapture perf`.

use super::*;
use ptm::{FlushStrategy, PoolOptions};

/// 784 -> 16000 connected: 12.5 M weights (50 MB) + 50 MB momentum.
const BIG_CFG: &str = "\
[net]
batch=8
height=28
width=28
channels=1
momentum=0.9
decay=0.0005
learning_rate=0.01

[connected]
output=16000
activation=leaky

[connected]
output=10
activation=linear

[softmax]
";

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[test]
#[ignore = "performance figure: run explicitly"]
fn perf_mirror_100mb() {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        tempfile::tempdir_in(dir).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    // Reference points in this run (the machine may be loaded): sealing
    // 100 MB into warm heap memory on one thread, and a plain 100 MB copy.
    let key = seal::Key256::from_bytes([3; 32]).seal_key();
    let plain = vec![0x5Au8; 100 << 20];
    let mut out = vec![0u8; seal::chunked_sealed_len(plain.len())];
    let mut copy = vec![0u8; plain.len()];
    let (mut seal_ref, mut copy_ref) = (u64::MAX, u64::MAX);
    for _ in 0..5 {
        let t = std::time::Instant::now();
        seal::seal_chunked_into(&key, b"ref", &plain, &mut out).unwrap();
        seal_ref = seal_ref.min(t.elapsed().as_nanos() as u64);
        let t = std::time::Instant::now();
        copy.copy_from_slice(std::hint::black_box(&plain));
        std::hint::black_box(&mut copy);
        copy_ref = copy_ref.min(t.elapsed().as_nanos() as u64);
    }
    println!(
        "reference: seal 100 MiB into heap memory, 1 thread: {:.1} ms; memcpy 100 MiB: {:.1} ms",
        ms(seal_ref),
        ms(copy_ref)
    );
    drop((plain, out, copy));
    let fx = Fixture::new(1);
    let flush = ptm::cpu_flush_support()
        .best_line_flush()
        .unwrap_or(FlushStrategy::None);
    for (mode, streaming) in [
        (MirrorMode::Romulus, true),
        (MirrorMode::Romulus, false),
        (MirrorMode::Ab, true),
        (MirrorMode::Ab, false),
    ] {
        let mut cfg = Fixture::config(mode);
        cfg.threads = 2;
        let mut e = Enclave::new(fx.keys(), BIG_CFG, "big.cfg", cfg).unwrap();
        e.set_streaming_stores(streaming);
        let plan = e.plan(0);
        let path = dir.path().join(format!("{mode}-{streaming}.pool"));
        let opts = PoolOptions {
            flush: Some(flush),
            ..PoolOptions::default()
        };
        let mut pool = Pool::create(&path, plan.pool_size(), &opts).unwrap();
        e.attach(&mut pool).unwrap();
        let mut outs = Vec::new();
        // Warm up (first touch of the pages' mappings in this process).
        e.mirror_out(&mut pool).unwrap();
        for _ in 0..8 {
            outs.push(e.mirror_out(&mut pool).unwrap());
        }
        let mut ins = Vec::new();
        for _ in 0..5 {
            ins.push(e.mirror_in(&pool).unwrap());
        }
        let best = |v: &mut Vec<u64>| {
            v.sort_unstable();
            v[v.len() / 2]
        };
        let mut t: Vec<u64> = outs.iter().map(|s| s.total_ns).collect();
        let mut s: Vec<u64> = outs.iter().map(|s| s.seal_ns).collect();
        let mut p: Vec<u64> = outs.iter().map(|s| s.persist_ns).collect();
        let mut i: Vec<u64> = ins.iter().map(|s| s.total_ns).collect();
        let mut o: Vec<u64> = ins.iter().map(|s| s.open_ns).collect();
        println!(
            "{mode:8} {flush} {}: image {:.1} MB; mirror-out median {:.1} ms (seal {:.1}, persist \
             {:.1}; min {:.1}); mirror-in median {:.1} ms (open {:.1})",
            if streaming { "nt-stores" } else { "cached   " },
            e.image_len() as f64 / 1e6,
            ms(best(&mut t)),
            ms(best(&mut s)),
            ms(best(&mut p)),
            ms(t[0]),
            ms(best(&mut i)),
            ms(best(&mut o)),
        );
        drop(pool);
    }
}

#[test]
#[ignore = "performance figure: run explicitly"]
fn perf_mirror_experiment_models() {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        tempfile::tempdir_in(dir).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let fx = Fixture::new(1);
    let flush = ptm::cpu_flush_support()
        .best_line_flush()
        .unwrap_or(FlushStrategy::None);
    for (name, text) in [
        ("mnist5.cfg", include_str!("../../../../cfg/mnist5.cfg")),
        ("mnist.cfg", include_str!("../../../../cfg/mnist.cfg")),
    ] {
        for mode in [MirrorMode::Romulus, MirrorMode::Ab] {
            let mut cfg = Fixture::config(mode);
            cfg.threads = 2;
            let mut e = Enclave::new(fx.keys(), text, name, cfg).unwrap();
            let path = dir.path().join(format!("{name}-{mode}.pool"));
            let opts = PoolOptions {
                flush: Some(flush),
                ..PoolOptions::default()
            };
            let mut pool = Pool::create(&path, e.plan(0).pool_size(), &opts).unwrap();
            e.attach(&mut pool).unwrap();
            let mut t: Vec<u64> = (0..20)
                .map(|_| e.mirror_out(&mut pool).unwrap().total_ns)
                .collect();
            t.sort_unstable();
            let i = e.mirror_in(&pool).unwrap();
            println!(
                "{name:10} {mode:8} image {:.2} MB: mirror-out median {:.2} ms (min {:.2}); mirror-in {:.2} ms",
                e.image_len() as f64 / 1e6,
                ms(t[t.len() / 2]),
                ms(t[0]),
                ms(i.total_ns)
            );
        }
    }
}
