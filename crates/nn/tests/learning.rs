//! Training on MNIST reaches good accuracy (the data ships in data/mnist).
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::path::Path;

use nn::idx::Mnist;
use nn::{Batch, BatchSampler, Network};

fn mnist() -> Mnist {
    hostio::idx::load_mnist(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"))
        .expect("MNIST in data/mnist")
}

fn cfg(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../cfg")
            .join(name),
    )
    .unwrap()
}

/// A small 3-conv model trained for 300 batches of 64 reaches >= 97% on the
/// 10,000 test images.
#[test]
fn small_model_learns_mnist() {
    let text = "[net]\nbatch=64\nwidth=28\nheight=28\nchannels=1\nlearning_rate=0.05\nmomentum=0.9\ndecay=0.0005\npolicy=poly\npower=1\nmax_batches=400\nburn_in=20\n\
        [convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\npad=1\nactivation=leaky\n[maxpool]\nsize=2\nstride=2\n\
        [convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\npad=1\nactivation=leaky\n[maxpool]\nsize=2\nstride=2\n\
        [convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\npad=1\nactivation=leaky\n[dropout]\nprobability=0.2\n\
        [connected]\noutput=10\nactivation=linear\n[softmax]\n";
    let data = mnist();
    let mut net = Network::from_cfg_seeded(text, "small.cfg", 7).unwrap();
    let mut sampler = BatchSampler::new(7, data.train.len());
    let mut batch = Batch::new(&net);
    let mut last = f32::NAN;
    for i in 0..300 {
        batch.fill(&data.train, &mut sampler);
        last = net.train_step_u8(&batch.pixels, &batch.labels).unwrap();
        assert!(last.is_finite(), "loss diverged at iteration {i}");
    }
    let acc = net
        .evaluate_u8(&data.test.images.pixels, &data.test.labels)
        .unwrap();
    eprintln!("small model: final loss {last}, test accuracy {acc}");
    assert!(acc >= 0.97, "test accuracy {acc}");
}

/// The crash-experiment model trains stably (no NaN) and learns. Long: run
/// with `--ignored`.
#[test]
#[ignore]
fn mnist5_reaches_97_percent() {
    let data = mnist();
    let mut net = Network::from_cfg_seeded(&cfg("mnist5.cfg"), "mnist5.cfg", 1).unwrap();
    let mut sampler = BatchSampler::new(1, data.train.len());
    let mut batch = Batch::new(&net);
    for i in 0..400 {
        batch.fill(&data.train, &mut sampler);
        let loss = net.train_step_u8(&batch.pixels, &batch.labels).unwrap();
        assert!(loss.is_finite(), "loss diverged at iteration {i}");
        if i % 50 == 0 {
            eprintln!("iteration {i}: loss {loss}");
        }
    }
    let acc = net
        .evaluate_u8(&data.test.images.pixels, &data.test.labels)
        .unwrap();
    eprintln!("mnist5: test accuracy {acc}");
    assert!(acc >= 0.97, "test accuracy {acc}");
}
