//! Runs training iterations of a cfg on synthetic data (for profilers):
//! `cargo run --release -p nn --example train_loop -- cfg/bench5.cfg 10 1`
//! (cfg, iterations, threads). Prints ms per iteration.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("cfg/bench5.cfg", |s| s.as_str());
    let iterations: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let text = std::fs::read_to_string(path).expect("read cfg");
    let mut net = nn::Network::from_cfg_seeded(&text, path, 1).expect("parse cfg");
    net.set_threads(threads).expect("threads");
    let n = net.batch() * net.input_len();
    let pixels: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let labels: Vec<u8> = (0..net.batch())
        .map(|i| (i % net.classes()) as u8)
        .collect();
    net.train_step_u8(&pixels, &labels).expect("step");
    let t = Instant::now();
    for _ in 0..iterations {
        net.train_step_u8(&pixels, &labels).expect("step");
    }
    println!(
        "{:.1} ms/iteration",
        t.elapsed().as_secs_f64() * 1e3 / iterations as f64
    );
}
