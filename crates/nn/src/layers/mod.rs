//! The layers. Activations of a mini-batch of `B` images are stored
//! channel-major, `[C][B][H*W]`: a convolution's output for the whole batch is
//! then one `filters x (B*H*W)` matrix (no transposes around the GEMMs) and
//! every per-channel loop (bias, batch norm, activation) runs over one
//! contiguous slice. Deltas follow Darknet's sign convention: `delta` is minus
//! the gradient of the loss, and the update adds `learning_rate/batch * delta`.

pub(crate) mod batchnorm;
pub(crate) mod connected;
pub(crate) mod conv;
pub(crate) mod dropout;
pub(crate) mod pool;
pub(crate) mod softmax;

use rayon::prelude::*;

use crate::cfg::{LayerConfig, LayerSpec};

/// Execution context of one pass.
pub(crate) struct Ctx<'a> {
    /// The pool the work runs on.
    pub pool: &'a rayon::ThreadPool,
    /// Threads of `pool`.
    pub threads: usize,
    /// Images in the mini-batch.
    pub batch: usize,
    /// Training mode (batch statistics, dropout) or inference.
    pub train: bool,
}

impl Ctx<'_> {
    /// Runs `f(index, chunk)` on each `chunk`-sized piece of `buf`, in parallel
    /// when there are several threads. Results do not depend on the thread count
    /// as long as `f` only touches its own chunk.
    pub fn for_chunks(
        &self,
        buf: &mut [f32],
        chunk: usize,
        f: impl Fn(usize, &mut [f32]) + Sync + Send,
    ) {
        if self.threads <= 1 || buf.len() <= chunk {
            buf.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
        } else {
            self.pool.install(|| {
                buf.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c));
            });
        }
    }

    /// Runs `f(t)` for every thread index `t` in `0..threads`, in parallel.
    pub fn for_threads<W: Send>(&self, work: &mut [W], f: impl Fn(usize, &mut W) + Sync + Send) {
        if work.len() <= 1 {
            work.iter_mut().enumerate().for_each(|(t, w)| f(t, w));
        } else {
            self.pool
                .install(|| work.par_iter_mut().enumerate().for_each(|(t, w)| f(t, w)));
        }
    }
}

/// Per-thread scratch memory of the convolutions.
#[derive(Default)]
pub(crate) struct Workspace {
    /// The im2col matrix of one chunk.
    pub cols: Vec<f32>,
    /// The input-gradient column matrix of one chunk.
    pub dcols: Vec<f32>,
}

/// What distinguishes each layer kind.
pub(crate) enum Kind {
    Conv(conv::Conv),
    Connected(connected::Connected),
    MaxPool(pool::MaxPool),
    AvgPool,
    Dropout(dropout::Dropout),
    Softmax(softmax::Softmax),
    Cost(softmax::Cost),
}

/// One layer with its output and delta buffers for a mini-batch.
pub(crate) struct Layer {
    pub spec: LayerSpec,
    pub output: Vec<f32>,
    pub delta: Vec<f32>,
    pub kind: Kind,
    /// Loss of the last training forward pass (loss layers only).
    pub cost: Option<f32>,
}

impl Layer {
    /// Builds a layer for mini-batches of `batch` images; weights drawn from `init`.
    pub fn new(spec: &LayerSpec, batch: usize, init: &mut crate::rng::InitRng) -> Self {
        let n_out = spec.output.len() * batch;
        let kind = match &spec.config {
            LayerConfig::Conv(c) => Kind::Conv(conv::Conv::new(c, spec, batch, init)),
            LayerConfig::Connected {
                output,
                activation,
                batch_normalize,
            } => Kind::Connected(connected::Connected::new(
                spec.input.len(),
                *output,
                *activation,
                *batch_normalize,
                batch,
                init,
            )),
            LayerConfig::MaxPool {
                size,
                stride,
                padding,
            } => Kind::MaxPool(pool::MaxPool::new(*size, *stride, *padding, spec, batch)),
            LayerConfig::AvgPool => Kind::AvgPool,
            LayerConfig::Dropout { probability } => {
                Kind::Dropout(dropout::Dropout::new(*probability, n_out))
            }
            LayerConfig::Softmax {
                groups,
                temperature,
            } => Kind::Softmax(softmax::Softmax {
                groups: *groups,
                temperature: *temperature,
                scratch: Vec::new(),
            }),
            LayerConfig::Cost { scale } => Kind::Cost(softmax::Cost { scale: *scale }),
        };
        Layer {
            spec: spec.clone(),
            output: vec![0.0; n_out],
            delta: vec![0.0; n_out],
            kind,
            cost: None,
        }
    }

    /// Forward pass. `truth` is the one-hot target in the output layout (loss
    /// layers, training only).
    pub fn forward(
        &mut self,
        input: &[f32],
        ctx: &Ctx<'_>,
        ws: &mut [Workspace],
        rng: &mut crate::rng::DropoutRng,
        truth: Option<&[f32]>,
    ) {
        let spec = &self.spec;
        match &mut self.kind {
            Kind::Conv(c) => c.forward(input, &mut self.output, ctx, ws),
            Kind::Connected(c) => c.forward(input, spec, &mut self.output, ctx),
            Kind::MaxPool(p) => p.forward(input, spec, &mut self.output, ctx),
            Kind::AvgPool => pool::avg_forward(input, spec, &mut self.output, ctx),
            Kind::Dropout(d) => d.forward(input, &mut self.output, ctx, rng),
            Kind::Softmax(s) => {
                self.cost = s.forward(input, spec, &mut self.output, &mut self.delta, ctx, truth);
            }
            Kind::Cost(c) => {
                self.cost = c.forward(input, &mut self.output, &mut self.delta, truth);
            }
        }
    }

    /// Backward pass: accumulates parameter gradients and, when `prev_delta` is
    /// given, writes the previous layer's delta (overwriting it; a `[cost]`
    /// layer adds to it instead, see [`Layer::adds_to_prev_delta`]).
    pub fn backward(
        &mut self,
        input: &[f32],
        prev_delta: Option<&mut [f32]>,
        ctx: &Ctx<'_>,
        ws: &mut [Workspace],
    ) {
        let spec = &self.spec;
        match &mut self.kind {
            Kind::Conv(c) => c.backward(input, &self.output, &mut self.delta, prev_delta, ctx, ws),
            Kind::Connected(c) => c.backward(spec, &self.output, &mut self.delta, prev_delta, ctx),
            Kind::MaxPool(p) => {
                if let Some(pd) = prev_delta {
                    p.backward(spec, &self.delta, pd, ctx);
                }
            }
            Kind::AvgPool => {
                if let Some(pd) = prev_delta {
                    pool::avg_backward(spec, &self.delta, pd, ctx);
                }
            }
            Kind::Dropout(d) => {
                if let Some(pd) = prev_delta {
                    d.backward(&self.delta, pd, ctx);
                }
            }
            Kind::Softmax(_) => {
                if let Some(pd) = prev_delta {
                    pd.copy_from_slice(&self.delta);
                }
            }
            Kind::Cost(c) => {
                if let Some(pd) = prev_delta {
                    c.backward(&self.delta, pd);
                }
            }
        }
    }

    /// True for layers whose backward adds to the previous delta rather than
    /// overwriting it (Darknet's `[cost]` after a `[softmax]` adds its error to
    /// the softmax's own).
    pub fn adds_to_prev_delta(&self) -> bool {
        matches!(self.kind, Kind::Cost(_))
    }

    /// SGD update with Darknet's rule (see [`crate::network::Network::train_step`]).
    pub fn update(&mut self, lr: f32, momentum: f32, decay: f32, batch: usize, ctx: &Ctx<'_>) {
        let p = match &mut self.kind {
            Kind::Conv(c) => &mut c.params,
            Kind::Connected(c) => &mut c.params,
            _ => return,
        };
        p.update(lr, momentum, decay, batch, ctx);
    }

    /// The learnable parameters and optimizer state, if any.
    pub fn params(&self) -> Option<&Params> {
        match &self.kind {
            Kind::Conv(c) => Some(&c.params),
            Kind::Connected(c) => Some(&c.params),
            _ => None,
        }
    }

    /// Mutable twin of [`Layer::params`].
    pub fn params_mut(&mut self) -> Option<&mut Params> {
        match &mut self.kind {
            Kind::Conv(c) => Some(&mut c.params),
            Kind::Connected(c) => Some(&mut c.params),
            _ => None,
        }
    }
}

/// Learnable buffers of a convolutional or connected layer and their
/// momentum buffers (Darknet's `*_updates`).
pub(crate) struct Params {
    pub weights: Vec<f32>,
    pub biases: Vec<f32>,
    pub weight_updates: Vec<f32>,
    pub bias_updates: Vec<f32>,
    pub bn: Option<batchnorm::BatchNorm>,
}

impl Params {
    pub fn new(weights: Vec<f32>, outputs: usize, bn: bool) -> Self {
        let n = weights.len();
        Params {
            weights,
            biases: vec![0.0; outputs],
            weight_updates: vec![0.0; n],
            bias_updates: vec![0.0; outputs],
            bn: bn.then(|| batchnorm::BatchNorm::new(outputs)),
        }
    }

    /// Darknet's `update_convolutional_layer` / `update_connected_layer`:
    /// ```text
    /// biases  += lr/batch * bias_updates;   bias_updates  *= momentum
    /// scales  += lr/batch * scale_updates;  scale_updates *= momentum
    /// weight_updates += -decay*batch * weights
    /// weights += lr/batch * weight_updates; weight_updates *= momentum
    /// ```
    pub fn update(&mut self, lr: f32, momentum: f32, decay: f32, batch: usize, ctx: &Ctx<'_>) {
        let rate = lr / batch as f32;
        let wd = -decay * batch as f32;
        for (b, u) in self.biases.iter_mut().zip(self.bias_updates.iter_mut()) {
            *b += rate * *u;
            *u *= momentum;
        }
        if let Some(bn) = &mut self.bn {
            for (s, u) in bn.scales.iter_mut().zip(bn.scale_updates.iter_mut()) {
                *s += rate * *u;
                *u *= momentum;
            }
        }
        const CHUNK: usize = 1 << 15;
        let w = &mut self.weights;
        let wu = &mut self.weight_updates;
        let step = |w: &mut [f32], u: &mut [f32]| {
            for (w, u) in w.iter_mut().zip(u.iter_mut()) {
                *u += wd * *w;
                *w += rate * *u;
                *u *= momentum;
            }
        };
        if ctx.threads <= 1 || w.len() <= CHUNK {
            step(w, wu);
        } else {
            ctx.pool.install(|| {
                w.par_chunks_mut(CHUNK)
                    .zip(wu.par_chunks_mut(CHUNK))
                    .for_each(|(w, u)| step(w, u));
            });
        }
    }
}
