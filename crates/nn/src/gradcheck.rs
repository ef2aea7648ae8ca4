//! Finite-difference gradient checks of every layer type: the analytical
//! gradients accumulated by `backward` (Darknet's `*_updates`, minus the
//! gradient) against central differences of the loss.

use crate::network::Network;

/// Checks every learnable buffer's gradient (all entries of small buffers).
/// The loss is the softmax cross-entropy summed over the mini-batch, or for an
/// SSE `[cost]` model the sum of squared errors, whose Darknet delta is half
/// the gradient (`sse_factor` = 2).
fn check(cfg: &str, tol: f32, sse_factor: f32) {
    let mut net = Network::from_cfg_seeded(cfg, "grad.cfg", 3).unwrap();
    net.set_threads(1).unwrap();
    let b = net.mini_batch();
    let per = net.input_len();
    let images: Vec<f32> = (0..b * per)
        .map(|i| ((i * 7919 + 13) % 101) as f32 / 101.0)
        .collect();
    let labels: Vec<u8> = (0..b).map(|i| (i % net.classes()) as u8).collect();
    net.load_input(&images, b, |x| x);
    net.load_truth(&labels);
    let rng0 = net.rng_state();
    for (name, buf) in net.state_buffers_mut() {
        if name.ends_with("_updates") {
            buf.fill(0.0);
        }
    }
    net.forward(true);
    net.backward();
    let analytic: Vec<(String, Vec<f32>)> = {
        let all = net.state_buffers();
        let find = |n: &str| {
            all.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_vec())
                .unwrap()
        };
        let mut out = Vec::new();
        for (name, _) in &all {
            for (p, u) in [
                ("weights", "weight_updates"),
                ("biases", "bias_updates"),
                ("scales", "scale_updates"),
            ] {
                if let Some(stem) = name.strip_suffix(p) {
                    let upd = find(&format!("{stem}{u}"));
                    out.push((name.clone(), upd.iter().map(|u| -u * sse_factor).collect()));
                }
            }
        }
        out
    };
    assert!(!analytic.is_empty());
    let eps = 2e-3f32;
    let loss_at = |net: &mut Network| {
        net.set_rng_state(&rng0).unwrap();
        net.forward(true)
    };
    for (name, grad) in &analytic {
        let mut num = Vec::new();
        for i in 0..grad.len() {
            let set = |net: &mut Network, v: Option<f32>| -> f32 {
                let mut bufs = net.state_buffers_mut();
                let buf = &mut bufs.iter_mut().find(|(k, _)| k == name).unwrap().1;
                let old = buf[i];
                if let Some(v) = v {
                    buf[i] = v;
                }
                old
            };
            let orig = set(&mut net, None);
            set(&mut net, Some(orig + eps));
            let lp = loss_at(&mut net);
            set(&mut net, Some(orig - eps));
            let lm = loss_at(&mut net);
            set(&mut net, Some(orig));
            num.push((lp - lm) / (2.0 * eps));
        }
        let diff: f32 = num
            .iter()
            .zip(grad)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        let norm: f32 = num.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-3);
        assert!(
            diff / norm <= tol,
            "{name}: relative error {} (numerical {:?}, analytic {:?})",
            diff / norm,
            &num[..num.len().min(6)],
            &grad[..grad.len().min(6)]
        );
    }
}

const NET: &str = "[net]\nbatch=3\nwidth=6\nheight=6\nchannels=2\n";

#[test]
fn conv_leaky_strided_and_maxpool() {
    let cfg = format!(
        "{NET}[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=leaky\n\
         [convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=logistic\n\
         [maxpool]\nsize=2\nstride=2\n[connected]\noutput=4\nactivation=linear\n[softmax]\n"
    );
    check(&cfg, 0.01, 1.0);
}

#[test]
fn conv_batchnorm_relu() {
    let cfg = format!(
        "{NET}[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=linear\n\
         [convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\nactivation=leaky\n\
         [connected]\noutput=3\nactivation=linear\n[softmax]\n"
    );
    // Darknet's batch norm uses the 1/(n-1) variance forward and 1/n formulas
    // backward (n = 3 images x 36 pixels): a ~1% mismatch by design.
    check(&cfg, 0.03, 1.0);
}

#[test]
fn pointwise_conv_dropout_avgpool() {
    let cfg = format!(
        "{NET}[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=logistic\n[dropout]\nprobability=0.4\n\
         [convolutional]\nfilters=4\nsize=1\nactivation=linear\n[avgpool]\n[softmax]\n"
    );
    check(&cfg, 0.01, 1.0);
}

#[test]
fn connected_batchnorm() {
    let cfg = format!(
        "{}[convolutional]\nfilters=2\nsize=3\nstride=2\nactivation=linear\n\
         [connected]\nbatch_normalize=1\noutput=6\nactivation=logistic\n\
         [connected]\noutput=4\nactivation=linear\n[softmax]\n",
        NET.replace("batch=3", "batch=40")
    );
    // Batch norm over 40 values per output: Darknet's 1/(n-1) vs 1/n mismatch ~2.5%.
    check(&cfg, 0.05, 1.0);
}

#[test]
fn sse_cost() {
    let cfg = format!(
        "{NET}[convolutional]\nfilters=2\nsize=3\npad=1\nactivation=logistic\n\
         [connected]\noutput=3\nactivation=logistic\n[cost]\ntype=sse\n"
    );
    check(&cfg, 0.01, 2.0);
}

#[test]
fn unpadded_and_wide_kernels() {
    // Stride-1 layers whose input gradient uses the flipped-kernel convolution
    // with an unusual padding: 3x3 without padding, 5x5 with padding 1.
    let cfg = "[net]\nbatch=2\nwidth=9\nheight=9\nchannels=2\n\
         [convolutional]\nfilters=3\nsize=3\npad=1\nactivation=logistic\n\
         [convolutional]\nfilters=4\nsize=3\nactivation=leaky\n\
         [convolutional]\nfilters=3\nsize=5\npadding=1\nactivation=linear\n\
         [connected]\noutput=3\nactivation=linear\n[softmax]\n";
    check(cfg, 0.01, 1.0);
}
