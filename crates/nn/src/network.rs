//! The network: layers built from a [`ModelConfig`], training steps, inference,
//! and access to every state buffer by a stable name.

use crate::cfg::{CfgError, LayerConfig, ModelConfig};
use crate::layers::{Ctx, Kind, Layer, Workspace};
use crate::rng::{DropoutRng, InitRng, RngStateError, chacha_from_state, chacha_state};
use zeroize::Zeroize;

/// Errors of training and inference calls.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    /// The image buffer does not hold the expected number of values.
    #[error("expected {expected} input values ({images} images of {per_image}), got {actual}")]
    InputSize {
        /// Images expected.
        images: usize,
        /// Values per image.
        per_image: usize,
        /// Values expected.
        expected: usize,
        /// Values given.
        actual: usize,
    },
    /// The label count does not match the image count.
    #[error("expected {expected} labels, got {actual}")]
    LabelCount {
        /// Labels expected.
        expected: usize,
        /// Labels given.
        actual: usize,
    },
    /// A label is not a class of the model.
    #[error("label {label} is out of range: the model has {classes} classes")]
    LabelOutOfRange {
        /// The label.
        label: u8,
        /// Classes of the model.
        classes: usize,
    },
    /// The thread pool could not be built.
    #[error("cannot start {threads} threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why it failed.
        reason: String,
    },
    /// A serialised RNG state is malformed.
    #[error(transparent)]
    RngState(#[from] RngStateError),
}

/// A Darknet-style network ready to train and predict.
///
/// Threads: the network owns a rayon pool of [`Network::threads`] threads
/// (default: all cores; change with [`Network::set_threads`]). Results are
/// bit-identical for a given seed whatever the thread count: every parallel
/// loop splits its work in a way that does not depend on the threads, and
/// reductions run in a fixed order.
///
/// Resume: the state is the set of [`Network::state_buffers`], the scalar
/// [`Network::seen`] and [`Network::rng_state`]. Restoring all three into a
/// network built from the same cfg continues training bit-identically. The
/// learning rate is a function of the batch number `seen / batch` only.
pub struct Network {
    config: ModelConfig,
    fingerprint: [u8; 32],
    /// Images per forward/backward pass.
    mini: usize,
    input: Vec<f32>,
    truth: Vec<f32>,
    layers: Vec<Layer>,
    workspaces: Vec<Workspace>,
    pool: rayon::ThreadPool,
    threads: usize,
    seen: u64,
    dropout_rng: DropoutRng,
}

impl Drop for Network {
    fn drop(&mut self) {
        self.clear_buffers();
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("origin", &self.config.origin)
            .field("layers", &self.layers.len())
            .field("seen", &self.seen)
            .field("threads", &self.threads)
            .finish()
    }
}

fn build_pool(threads: usize) -> Result<rayon::ThreadPool, NnError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("nn-{i}"))
        .build()
        .map_err(|e| NnError::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// Hardware threads of this machine (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Network {
    /// Parses `text` (a `.cfg`; `origin` names it in errors) and builds the
    /// network with weights initialised from seed 0.
    pub fn from_cfg(text: &str, origin: &str) -> Result<Network, CfgError> {
        Self::from_cfg_seeded(text, origin, 0)
    }

    /// Like [`Network::from_cfg`] with an explicit seed for the initial weights
    /// and the dropout generator.
    pub fn from_cfg_seeded(text: &str, origin: &str, seed: u64) -> Result<Network, CfgError> {
        Ok(Self::new(ModelConfig::parse(text, origin)?, seed))
    }

    /// Builds the network of a parsed model. Weights are drawn as Darknet does
    /// (convolutions: `sqrt(2/(size*size*c)) * normal`; connected:
    /// `sqrt(2/inputs) * uniform(-1, 1)`; biases 0; BN scales 1) from a ChaCha8
    /// stream of `seed`. Uses all cores; see [`Network::set_threads`].
    pub fn new(config: ModelConfig, seed: u64) -> Network {
        let mini = config.net.mini_batch();
        let mut init = InitRng::new(seed);
        let layers: Vec<Layer> = config
            .layers
            .iter()
            .map(|s| Layer::new(s, mini, &mut init))
            .collect();
        let threads = default_threads();
        let pool =
            build_pool(threads).unwrap_or_else(|_| build_pool(1).expect("a one-thread pool"));
        let threads = pool.current_num_threads();
        let mut net = Network {
            fingerprint: config.fingerprint(),
            input: vec![0.0; config.input_shape().len() * mini],
            truth: vec![0.0; config.classes() * mini],
            mini,
            layers,
            workspaces: Vec::new(),
            pool,
            threads,
            seen: 0,
            dropout_rng: DropoutRng::new(seed),
            config,
        };
        net.size_workspaces();
        net
    }

    fn size_workspaces(&mut self) {
        let need = self
            .layers
            .iter()
            .map(|l| match &l.kind {
                Kind::Conv(c) => c.workspace_len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        self.workspaces
            .resize_with(self.threads, Workspace::default);
        self.workspaces.truncate(self.threads);
        for w in &mut self.workspaces {
            w.cols.resize(need, 0.0);
            w.dcols.resize(need, 0.0);
        }
    }

    /// Uses `threads` worker threads (at least 1) from now on.
    pub fn set_threads(&mut self, threads: usize) -> Result<(), NnError> {
        let threads = threads.max(1);
        self.pool = build_pool(threads)?;
        self.threads = threads;
        self.size_workspaces();
        Ok(())
    }

    /// Worker threads in use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The parsed model.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// SHA-256 of the canonical cfg (see [`ModelConfig::canonical`]).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Images per training step (the cfg's `batch`).
    pub fn batch(&self) -> usize {
        self.config.net.batch
    }

    /// Images per forward/backward pass (`batch / subdivisions`).
    pub fn mini_batch(&self) -> usize {
        self.mini
    }

    /// Input values per image (`channels * height * width`, in that order).
    pub fn input_len(&self) -> usize {
        self.config.input_shape().len()
    }

    /// Classes (outputs per image of the last layer).
    pub fn classes(&self) -> usize {
        self.config.classes()
    }

    /// Images processed by training so far (Darknet's `seen`).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Sets `seen` (when restoring a state).
    pub fn set_seen(&mut self, seen: u64) {
        self.seen = seen;
    }

    /// Completed training steps: `seen / batch` (Darknet's batch number).
    pub fn iteration(&self) -> u64 {
        self.seen / self.batch() as u64
    }

    /// Learning rate the next training step will use.
    pub fn next_learning_rate(&self) -> f32 {
        self.config.net.learning_rate_at(self.iteration() + 1)
    }

    /// FLOPs of one training step (see [`ModelConfig::train_flops_per_iteration`]).
    pub fn flops_per_iteration(&self) -> u64 {
        self.config.train_flops_per_iteration()
    }

    fn check_images(&self, images: usize, len: usize) -> Result<(), NnError> {
        let per_image = self.input_len();
        if len != images * per_image {
            return Err(NnError::InputSize {
                images,
                per_image,
                expected: images * per_image,
                actual: len,
            });
        }
        Ok(())
    }

    fn check_labels(&self, images: usize, labels: &[u8]) -> Result<(), NnError> {
        if labels.len() != images {
            return Err(NnError::LabelCount {
                expected: images,
                actual: labels.len(),
            });
        }
        let classes = self.classes();
        if let Some(&label) = labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(NnError::LabelOutOfRange { label, classes });
        }
        Ok(())
    }

    /// Copies images (per image `c, h, w` order) into the `[C][B][H*W]` input.
    pub(crate) fn load_input<T: Copy>(
        &mut self,
        images: &[T],
        count: usize,
        conv: impl Fn(T) -> f32,
    ) {
        let shape = self.config.input_shape();
        let s = shape.h * shape.w;
        let b = self.mini;
        for bi in 0..b {
            for c in 0..shape.c {
                let dst = &mut self.input[(c * b + bi) * s..][..s];
                if bi < count {
                    let src = &images[bi * shape.len() + c * s..][..s];
                    for (d, x) in dst.iter_mut().zip(src) {
                        *d = conv(*x);
                    }
                } else {
                    dst.fill(0.0);
                }
            }
        }
    }

    pub(crate) fn load_truth(&mut self, labels: &[u8]) {
        let last = self
            .config
            .layers
            .last()
            .expect("a model has layers")
            .output;
        let s = last.h * last.w;
        let b = self.mini;
        self.truth.fill(0.0);
        for (bi, &l) in labels.iter().enumerate() {
            let i = usize::from(l);
            self.truth[((i / s) * b + bi) * s + i % s] = 1.0;
        }
    }

    pub(crate) fn forward(&mut self, train: bool) -> f32 {
        let ctx = Ctx {
            pool: &self.pool,
            threads: self.threads,
            batch: self.mini,
            train,
        };
        let mut cost = 0.0f32;
        let mut count = 0;
        for i in 0..self.layers.len() {
            let (prev, rest) = self.layers.split_at_mut(i);
            let input: &[f32] = if i == 0 {
                &self.input
            } else {
                &prev[i - 1].output
            };
            let layer = &mut rest[0];
            layer.cost = None;
            layer.forward(
                input,
                &ctx,
                &mut self.workspaces,
                &mut self.dropout_rng,
                train.then_some(&self.truth[..]),
            );
            if let Some(c) = layer.cost {
                cost += c;
                count += 1;
            }
        }
        if count > 0 { cost / count as f32 } else { 0.0 }
    }

    pub(crate) fn backward(&mut self) {
        let ctx = Ctx {
            pool: &self.pool,
            threads: self.threads,
            batch: self.mini,
            train: true,
        };
        for i in (0..self.layers.len()).rev() {
            let (prev, rest) = self.layers.split_at_mut(i);
            let layer = &mut rest[0];
            if i == 0 {
                layer.backward(&self.input, None, &ctx, &mut self.workspaces);
            } else {
                let p = &mut prev[i - 1];
                if layer.adds_to_prev_delta() && !matches!(p.kind, Kind::Softmax(_)) {
                    p.delta.fill(0.0);
                }
                layer.backward(&p.output, Some(&mut p.delta), &ctx, &mut self.workspaces);
            }
        }
    }

    pub(crate) fn update(&mut self) {
        let ctx = Ctx {
            pool: &self.pool,
            threads: self.threads,
            batch: self.mini,
            train: true,
        };
        let net = &self.config.net;
        let lr = net.learning_rate_at(self.seen / net.batch as u64);
        for l in &mut self.layers {
            l.update(lr, net.momentum, net.decay, net.batch, &ctx);
        }
    }

    /// One training step on `batch` images (`images`: `batch * input_len`
    /// values in `[0, 1]`, each image in `c, h, w` order) with their labels:
    /// for each of the `subdivisions` mini-batches, `seen += mini_batch`,
    /// forward, loss and backward; then one SGD update with Darknet's rule
    /// (learning rate `lr(seen / batch)`, momentum, decay; see
    /// [`crate::cfg::NetConfig::learning_rate_at`]). Returns the mean loss per image.
    pub fn train_step(&mut self, images: &[f32], labels: &[u8]) -> Result<f32, NnError> {
        self.train_step_with(images, labels, |x| x)
    }

    /// [`Network::train_step`] on 8-bit pixels (converted as `p / 255`), the
    /// form a sealed dataset stores.
    pub fn train_step_u8(&mut self, pixels: &[u8], labels: &[u8]) -> Result<f32, NnError> {
        self.train_step_with(pixels, labels, |p| f32::from(p) / 255.0)
    }

    fn train_step_with<T: Copy>(
        &mut self,
        images: &[T],
        labels: &[u8],
        conv: impl Fn(T) -> f32 + Copy,
    ) -> Result<f32, NnError> {
        let batch = self.batch();
        self.check_images(batch, images.len())?;
        self.check_labels(batch, labels)?;
        let per = self.input_len();
        let mini = self.mini;
        let mut total = 0.0f32;
        for sub in 0..self.config.net.subdivisions {
            let imgs = &images[sub * mini * per..(sub + 1) * mini * per];
            let labs = &labels[sub * mini..(sub + 1) * mini];
            self.load_input(imgs, mini, conv);
            self.load_truth(labs);
            self.seen += mini as u64;
            total += self.forward(true);
            self.backward();
        }
        self.update();
        Ok(total / batch as f32)
    }

    /// Class probabilities (`n x classes`, row per image) for `n` images in
    /// inference mode (batch-norm rolling statistics, no dropout).
    pub fn predict(&mut self, images: &[f32]) -> Result<Vec<f32>, NnError> {
        self.predict_with(images, |x| x)
    }

    /// [`Network::predict`] on 8-bit pixels.
    pub fn predict_u8(&mut self, pixels: &[u8]) -> Result<Vec<f32>, NnError> {
        self.predict_with(pixels, |p| f32::from(p) / 255.0)
    }

    fn predict_with<T: Copy>(
        &mut self,
        images: &[T],
        conv: impl Fn(T) -> f32 + Copy,
    ) -> Result<Vec<f32>, NnError> {
        let per = self.input_len();
        let n = images.len() / per;
        self.check_images(n, images.len())?;
        let classes = self.classes();
        let last = self
            .config
            .layers
            .last()
            .expect("a model has layers")
            .output;
        let s = last.h * last.w;
        let mini = self.mini;
        let mut out = vec![0.0f32; n * classes];
        for start in (0..n).step_by(mini) {
            let count = mini.min(n - start);
            self.load_input(&images[start * per..(start + count) * per], count, conv);
            self.forward(false);
            let y = &self.layers.last().expect("a model has layers").output;
            for bi in 0..count {
                for i in 0..classes {
                    out[(start + bi) * classes + i] = y[((i / s) * mini + bi) * s + i % s];
                }
            }
        }
        Ok(out)
    }

    /// Fraction of `images` whose most probable class is their label.
    pub fn evaluate(&mut self, images: &[f32], labels: &[u8]) -> Result<f32, NnError> {
        let p = self.predict(images)?;
        self.accuracy(&p, labels)
    }

    /// [`Network::evaluate`] on 8-bit pixels.
    pub fn evaluate_u8(&mut self, pixels: &[u8], labels: &[u8]) -> Result<f32, NnError> {
        let p = self.predict_u8(pixels)?;
        self.accuracy(&p, labels)
    }

    fn accuracy(&self, probs: &[f32], labels: &[u8]) -> Result<f32, NnError> {
        let classes = self.classes();
        let n = probs.len() / classes;
        self.check_labels(n, labels)?;
        if n == 0 {
            return Ok(0.0);
        }
        let correct = probs
            .chunks(classes)
            .zip(labels)
            .filter(|(p, l)| {
                let best = p
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                    );
                best.0 == usize::from(**l)
            })
            .count();
        Ok(correct as f32 / n as f32)
    }

    /// Every learnable and optimizer buffer with its stable name
    /// `"<layer index>.<kind>.<buffer>"`, e.g. `"0.conv.weights"`. Buffers per
    /// layer, in this order: `biases`, `scales`, `rolling_mean`,
    /// `rolling_variance` (batch-normalised layers), `weights`, then the
    /// momentum buffers `bias_updates`, `scale_updates` (BN), `weight_updates`.
    pub fn state_buffers(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let Some(p) = l.params() else { continue };
            let short = l.spec.config.short();
            let name = |b: &str| format!("{i}.{short}.{b}");
            out.push((name("biases"), &p.biases[..]));
            if let Some(bn) = &p.bn {
                out.push((name("scales"), &bn.scales[..]));
                out.push((name("rolling_mean"), &bn.rolling_mean[..]));
                out.push((name("rolling_variance"), &bn.rolling_variance[..]));
            }
            out.push((name("weights"), &p.weights[..]));
            out.push((name("bias_updates"), &p.bias_updates[..]));
            if let Some(bn) = &p.bn {
                out.push((name("scale_updates"), &bn.scale_updates[..]));
            }
            out.push((name("weight_updates"), &p.weight_updates[..]));
        }
        out
    }

    /// Zeroes every buffer that holds the model or data derived from the
    /// last batch: the state buffers (weights, optimizer state, batch norm
    /// statistics), the input and truth of the mini-batch, each layer's
    /// output and delta, and the im2col workspaces. Done on drop (the model
    /// and the data may be secrets), never per iteration.
    pub fn clear_buffers(&mut self) {
        for (_, b) in self.state_buffers_mut() {
            b.zeroize();
        }
        self.input.zeroize();
        self.truth.zeroize();
        for l in &mut self.layers {
            l.output.zeroize();
            l.delta.zeroize();
        }
        for w in &mut self.workspaces {
            w.cols.zeroize();
            w.dcols.zeroize();
        }
    }

    /// Mutable twin of [`Network::state_buffers`] (same names, same order).
    pub fn state_buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            let short = l.spec.config.short();
            let Some(p) = l.params_mut() else { continue };
            let name = |b: &str| format!("{i}.{short}.{b}");
            out.push((name("biases"), &mut p.biases[..]));
            let (bn_state, bn_upd) = match &mut p.bn {
                Some(bn) => {
                    let crate::layers::batchnorm::BatchNorm {
                        scales,
                        scale_updates,
                        rolling_mean,
                        rolling_variance,
                        ..
                    } = bn;
                    (
                        Some([
                            (name("scales"), &mut scales[..]),
                            (name("rolling_mean"), &mut rolling_mean[..]),
                            (name("rolling_variance"), &mut rolling_variance[..]),
                        ]),
                        Some((name("scale_updates"), &mut scale_updates[..])),
                    )
                }
                None => (None, None),
            };
            if let Some(s) = bn_state {
                out.extend(s);
            }
            out.push((name("weights"), &mut p.weights[..]));
            out.push((name("bias_updates"), &mut p.bias_updates[..]));
            if let Some(u) = bn_upd {
                out.push(u);
            }
            out.push((name("weight_updates"), &mut p.weight_updates[..]));
        }
        out
    }

    /// The dropout generator's state (56 bytes: ChaCha8 seed, stream, word position).
    pub fn rng_state(&self) -> Vec<u8> {
        chacha_state(&self.dropout_rng.0)
    }

    /// Restores [`Network::rng_state`]'s bytes.
    pub fn set_rng_state(&mut self, bytes: &[u8]) -> Result<(), NnError> {
        self.dropout_rng = DropoutRng(chacha_from_state(bytes)?);
        Ok(())
    }

    /// Per layer: its index, kind and Darknet `.weights` buffers, for
    /// [`crate::weights`].
    pub(crate) fn layers_mut(&mut self) -> impl Iterator<Item = &mut Layer> {
        self.layers.iter_mut()
    }

    /// Layers (read-only), for [`crate::weights`].
    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Whether the model has a layer of this kind (used by tests and tools).
    pub fn has_layer(&self, pred: impl Fn(&LayerConfig) -> bool) -> bool {
        self.config.layers.iter().any(|l| pred(&l.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_zeroes_the_model_and_the_batch() {
        let cfg = "[net]\nbatch=4\nwidth=4\nheight=4\nchannels=1\nlearning_rate=0.1\nmomentum=0.9\n\
                   [convolutional]\nbatch_normalize=1\nfilters=2\nsize=3\nactivation=leaky\n\
                   [connected]\noutput=2\nactivation=linear\n[softmax]\n";
        let mut net = Network::from_cfg_seeded(cfg, "clear.cfg", 3).unwrap();
        let pixels: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) | 1).collect();
        net.train_step_u8(&pixels, &[0, 1, 1, 0]).unwrap();
        let nonzero = |v: &[f32]| v.iter().any(|&x| x != 0.0);
        assert!(net.state_buffers().iter().any(|(_, b)| nonzero(b)));
        assert!(nonzero(&net.input) && net.layers.iter().any(|l| nonzero(&l.output)));
        net.clear_buffers();
        for (n, b) in net.state_buffers() {
            assert!(!nonzero(b), "{n}");
        }
        assert!(net.input.is_empty() && net.truth.is_empty());
        for l in &net.layers {
            assert!(l.output.is_empty() && l.delta.is_empty());
        }
        assert!(net.workspaces.iter().all(|w| w.cols.is_empty()));
    }

    /// One SGD step computed by hand with Darknet's rule.
    #[test]
    fn sgd_step_with_momentum_and_decay() {
        let cfg = "[net]\nbatch=4\nwidth=2\nheight=2\nchannels=1\nlearning_rate=0.1\nmomentum=0.9\ndecay=0.0005\n\
                   [convolutional]\nbatch_normalize=1\nfilters=1\nsize=1\nactivation=linear\n\
                   [connected]\noutput=2\nactivation=linear\n[softmax]\n";
        let mut net = Network::from_cfg(cfg, "sgd.cfg").unwrap();
        for (name, buf) in net.state_buffers_mut() {
            let v: &[f32] = match name.as_str() {
                "0.conv.weights" => &[2.0],
                "0.conv.weight_updates" => &[0.5],
                "0.conv.biases" => &[1.0],
                "0.conv.bias_updates" => &[-0.4],
                "0.conv.scales" => &[1.5],
                "0.conv.scale_updates" => &[0.8],
                _ => continue,
            };
            buf.copy_from_slice(v);
        }
        net.set_seen(4);
        net.update();
        let get = |n: &str| {
            net.state_buffers()
                .into_iter()
                .find(|(k, _)| k == n)
                .unwrap()
                .1[0]
        };
        // weight_updates += -decay*batch*w = 0.5 - 0.0005*4*2 = 0.496
        // weights += lr/batch * 0.496 = 2 + 0.025*0.496 = 2.0124; updates *= 0.9
        assert!((get("0.conv.weights") - 2.0124).abs() < 1e-6);
        assert!((get("0.conv.weight_updates") - 0.4464).abs() < 1e-6);
        // biases and scales: no decay.
        assert!((get("0.conv.biases") - (1.0 - 0.025 * 0.4)).abs() < 1e-6);
        assert!((get("0.conv.bias_updates") + 0.36).abs() < 1e-6);
        assert!((get("0.conv.scales") - (1.5 + 0.025 * 0.8)).abs() < 1e-6);
        assert!((get("0.conv.scale_updates") - 0.72).abs() < 1e-6);
        // Rolling statistics are not touched by the update.
        assert_eq!(get("0.conv.rolling_mean"), 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg =
            "[net]\nbatch=2\nwidth=2\nheight=2\nchannels=1\n[connected]\noutput=3\n[softmax]\n";
        let mut net = Network::from_cfg(cfg, "x.cfg").unwrap();
        assert!(matches!(
            net.train_step(&[0.0; 7], &[0, 1]),
            Err(NnError::InputSize { .. })
        ));
        assert!(matches!(
            net.train_step(&[0.0; 8], &[0]),
            Err(NnError::LabelCount { .. })
        ));
        assert!(matches!(
            net.train_step(&[0.0; 8], &[0, 3]),
            Err(NnError::LabelOutOfRange { label: 3, .. })
        ));
        assert!(matches!(
            net.set_rng_state(&[0; 3]),
            Err(NnError::RngState(_))
        ));
        assert_eq!(net.seen(), 0);
        net.train_step(&[0.5; 8], &[0, 2]).unwrap();
        assert_eq!((net.seen(), net.iteration()), (2, 1));
    }
}
