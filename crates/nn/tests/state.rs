//! Determinism, exact resume from the mirrored state, and .weights I/O.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use nn::{BatchSampler, Network};

/// A model with every stateful part: BN (rolling statistics), dropout (RNG),
/// momentum buffers, a connected layer; two subdivisions and a burn-in.
const CFG: &str = "[net]\nbatch=16\nsubdivisions=2\nwidth=12\nheight=12\nchannels=1\nlearning_rate=0.05\nmomentum=0.9\ndecay=0.0005\n\
    policy=steps\nsteps=5,15\nscales=0.5,0.5\nburn_in=3\n\
    [convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\npad=1\nactivation=leaky\n[maxpool]\nsize=2\nstride=2\n\
    [convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n[dropout]\nprobability=0.3\n\
    [connected]\nbatch_normalize=1\noutput=10\nactivation=linear\n[softmax]\n";

/// Synthetic dataset: 64 images with labels.
fn data() -> (Vec<u8>, Vec<u8>) {
    let px: Vec<u8> = (0..64 * 144)
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    let labels: Vec<u8> = (0..64).map(|i| (i * 7 % 10) as u8).collect();
    (px, labels)
}

fn train(net: &mut Network, sampler: &mut BatchSampler, iterations: usize) {
    let (px, labels) = data();
    for _ in 0..iterations {
        let idx = sampler.next_batch(net.batch());
        let mut bp = Vec::new();
        let mut bl = Vec::new();
        for i in idx {
            bp.extend_from_slice(&px[i * 144..(i + 1) * 144]);
            bl.push(labels[i]);
        }
        let loss = net.train_step_u8(&bp, &bl).unwrap();
        assert!(loss.is_finite());
    }
}

fn bytes(net: &Network) -> Vec<(String, Vec<u8>)> {
    net.state_buffers()
        .into_iter()
        .map(|(n, b)| (n, b.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect()
}

#[test]
fn same_seed_same_bytes_for_any_thread_count() {
    let run = |threads| {
        let mut net = Network::from_cfg_seeded(CFG, "s.cfg", 5).unwrap();
        net.set_threads(threads).unwrap();
        let mut s = BatchSampler::new(5, 64);
        train(&mut net, &mut s, 6);
        (bytes(&net), net.rng_state())
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_eq!(a, run(2));
    assert_eq!(a, run(3));
    // A different seed gives different weights.
    let mut other = Network::from_cfg_seeded(CFG, "s.cfg", 6).unwrap();
    let mut s = BatchSampler::new(5, 64);
    train(&mut other, &mut s, 6);
    assert_ne!(a.0, bytes(&other));
}

#[test]
fn restored_state_continues_bit_identically() {
    // Uninterrupted: 20 iterations.
    let mut straight = Network::from_cfg_seeded(CFG, "s.cfg", 9).unwrap();
    let mut s1 = BatchSampler::new(9, 64);
    train(&mut straight, &mut s1, 20);

    // Interrupted after 10: snapshot everything, restore into a fresh network
    // built with a different seed (so nothing leaks from initialisation).
    let mut first = Network::from_cfg_seeded(CFG, "s.cfg", 9).unwrap();
    let mut s2 = BatchSampler::new(9, 64);
    train(&mut first, &mut s2, 10);
    let snap: Vec<(String, Vec<f32>)> = first
        .state_buffers()
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect();
    let (seen, rng, sampler_state) = (first.seen(), first.rng_state(), s2.state());
    drop(first);

    let mut resumed = Network::from_cfg_seeded(CFG, "s.cfg", 12345).unwrap();
    assert_eq!(resumed.fingerprint(), straight.fingerprint());
    for ((name, dst), (sname, src)) in resumed.state_buffers_mut().into_iter().zip(&snap) {
        assert_eq!(&name, sname);
        dst.copy_from_slice(src);
    }
    resumed.set_seen(seen);
    resumed.set_rng_state(&rng).unwrap();
    let mut s3 = BatchSampler::new(0, 64);
    s3.set_state(&sampler_state).unwrap();
    assert_eq!(resumed.iteration(), 10);
    train(&mut resumed, &mut s3, 10);
    assert_eq!(bytes(&resumed), bytes(&straight));
    assert_eq!(resumed.rng_state(), straight.rng_state());
    assert_eq!(resumed.seen(), straight.seen());

    // Without the momentum buffers the run differs: they are part of the state.
    let mut partial = Network::from_cfg_seeded(CFG, "s.cfg", 1).unwrap();
    for ((name, dst), (_, src)) in partial.state_buffers_mut().into_iter().zip(&snap) {
        if !name.ends_with("_updates") {
            dst.copy_from_slice(src);
        }
    }
    partial.set_seen(seen);
    partial.set_rng_state(&rng).unwrap();
    let mut s4 = BatchSampler::new(0, 64);
    s4.set_state(&sampler_state).unwrap();
    train(&mut partial, &mut s4, 10);
    assert_ne!(bytes(&partial), bytes(&straight));
}

#[test]
fn state_buffer_names_are_stable_and_complete() {
    let net = Network::from_cfg(CFG, "s.cfg").unwrap();
    let names: Vec<String> = net.state_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names[..8],
        [
            "0.conv.biases",
            "0.conv.scales",
            "0.conv.rolling_mean",
            "0.conv.rolling_variance",
            "0.conv.weights",
            "0.conv.bias_updates",
            "0.conv.scale_updates",
            "0.conv.weight_updates"
        ]
    );
    assert!(names.contains(&"2.conv.weight_updates".to_string()));
    assert!(names.contains(&"4.connected.rolling_variance".to_string()));
    let total: usize = net
        .state_buffers()
        .iter()
        .filter(|(n, _)| !n.contains("updates") && !n.contains("rolling"))
        .map(|(_, b)| b.len())
        .sum();
    assert_eq!(total, net.config().param_count());
}

#[test]
fn weights_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Network::from_cfg_seeded(CFG, "s.cfg", 2).unwrap();
    let mut s = BatchSampler::new(2, 64);
    train(&mut a, &mut s, 3);
    let path = dir.path().join("a.weights");
    hostio::weights::save_weights(&a, &path).unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(&file[..12], &[0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(u64::from_le_bytes(file[12..20].try_into().unwrap()), 48);
    let params = a.config().param_count() + 2 * (6 + 10); // + rolling mean/var
    assert_eq!(file.len(), 20 + 4 * params);

    let mut b = Network::from_cfg_seeded(CFG, "s.cfg", 99).unwrap();
    let h = hostio::weights::load_weights(&mut b, &path).unwrap();
    assert_eq!((h.major, h.minor, h.seen), (0, 2, 48));
    assert_eq!(b.seen(), 48);
    for ((n, x), (_, y)) in a.state_buffers().into_iter().zip(b.state_buffers()) {
        if !n.ends_with("_updates") {
            assert_eq!(x, y, "{n}");
        }
    }
    let (px, _) = data();
    assert_eq!(a.predict_u8(&px).unwrap(), b.predict_u8(&px).unwrap());

    // Version 0.1 headers carry a u32 `seen`.
    let mut old = vec![0u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0];
    old.extend_from_slice(&file[20..]);
    let h = nn::weights::read_weights(&mut b, &old, "old.weights").unwrap();
    assert_eq!((h.minor, h.seen), (1, 7));

    // Truncated, foreign (too long) and transposed files are errors that leave
    // the network unchanged.
    let before = bytes(&b);
    let e = nn::weights::read_weights(&mut b, &file[..file.len() - 4], "t.weights").unwrap_err();
    assert!(
        e.to_string().contains("t.weights") && e.to_string().contains("truncated"),
        "{e}"
    );
    let mut long = file.clone();
    long.extend_from_slice(&[0; 8]);
    let e = nn::weights::read_weights(&mut b, &long, "l.weights").unwrap_err();
    assert!(
        matches!(e, nn::weights::WeightsError::TrailingBytes { extra: 8, .. }),
        "{e}"
    );
    let e = nn::weights::read_weights(&mut b, &file[..5], "h.weights").unwrap_err();
    assert!(matches!(e, nn::weights::WeightsError::Truncated { .. }));
    let mut tr = file.clone();
    tr[4..8].copy_from_slice(&2000i32.to_le_bytes());
    assert!(matches!(
        nn::weights::read_weights(&mut b, &tr, "x").unwrap_err(),
        nn::weights::WeightsError::Transposed { .. }
    ));
    assert_eq!(before, bytes(&b));
    let e = hostio::weights::load_weights(&mut b, &dir.path().join("missing.weights")).unwrap_err();
    assert!(e.to_string().contains("missing.weights"));
}
