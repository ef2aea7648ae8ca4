//! Convolution forward and backward of a typical layer: the second layer of
//! `cfg/mnist5.cfg` (16 -> 32 channels, 3x3, stride 1, pad 1, on 28x28 maps,
//! leaky), on a batch of 16 images and one thread.
//!
//! The layer is followed by a global average pool, a 32 -> 10 connected layer
//! and a softmax, which cost under 1% of the convolution: `forward` is
//! [`nn::Network::predict`] (inference) and `train-step` is
//! [`nn::Network::train_step`] (forward, backward and the SGD update).
//! Throughput counts images ("elements").
//!
//! ```sh
//! cargo bench -p nn --bench conv              # or: -- --quick
//! ```

// A benchmark, not trusted code: it may read files and print.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

/// The model: the convolution under test and a small head that turns its
/// output into a loss.
const CFG: &str = "\
[net]
batch=16
subdivisions=1
height=28
width=28
channels=16
momentum=0.9
decay=0.0005
learning_rate=0.001

[convolutional]
filters=32
size=3
stride=1
pad=1
activation=leaky

[avgpool]

[connected]
output=10
activation=linear

[softmax]
groups=1
";

/// Deterministic inputs in `[0, 1)` and labels in `0..10` for `net`'s batch.
fn batch(net: &nn::Network) -> (Vec<f32>, Vec<u8>) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let images = (0..net.batch() * net.input_len())
        .map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32)
        .collect();
    let labels = (0..net.batch()).map(|_| (next() % 10) as u8).collect();
    (images, labels)
}

fn conv(c: &mut Criterion) {
    let mut net = nn::Network::from_cfg_seeded(CFG, "benches/conv.rs", 1)
        .expect("the benchmark model parses");
    net.set_threads(1).expect("one worker thread");
    let (images, labels) = batch(&net);
    let mut group = c.benchmark_group("conv/16x28x28-32x3x3-batch16");
    group.throughput(Throughput::Elements(net.batch() as u64));
    group.bench_function("forward", |b| {
        b.iter(|| black_box(net.predict(black_box(&images)).expect("forward")));
    });
    group.bench_function("train-step", |b| {
        b.iter(|| {
            black_box(
                net.train_step(black_box(&images), &labels)
                    .expect("train step"),
            )
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = conv
}
criterion_main!(benches);
