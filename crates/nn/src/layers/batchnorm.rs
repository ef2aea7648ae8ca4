//! Batch normalisation as Darknet does it (`forward_batchnorm_layer`,
//! `backward_batchnorm_layer`), fused with the layer's bias and activation.
//!
//! Forward (training): per channel, `mean`, `variance` with `1/(n-1)`;
//! `rolling = 0.99 rolling + 0.01 stat`; `x_norm = (x - mean) / (sqrt(var) + 1e-6)`;
//! `y = act(scale * x_norm + bias)`. Inference uses the rolling statistics.
//! Backward uses Darknet's `sqrt(var + 1e-5)` and `1/n` formulas.

use rayon::prelude::*;

use super::Ctx;
use crate::activation::{affine_activate, gradient_sum2, sum, sum_sq_dev};
use crate::cfg::Activation;

/// Batch-norm buffers of one layer.
pub(crate) struct BatchNorm {
    pub scales: Vec<f32>,
    pub scale_updates: Vec<f32>,
    pub rolling_mean: Vec<f32>,
    pub rolling_variance: Vec<f32>,
    /// Batch statistics of the last training forward pass.
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
    /// Normalised pre-activation values of the last training forward pass.
    pub x_norm: Vec<f32>,
}

impl BatchNorm {
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            scales: vec![1.0; channels],
            scale_updates: vec![0.0; channels],
            rolling_mean: vec![0.0; channels],
            rolling_variance: vec![0.0; channels],
            mean: vec![0.0; channels],
            variance: vec![0.0; channels],
            x_norm: Vec::new(),
        }
    }

    /// Normalises `out` (`[C][len]`, pre-activation) in place, then applies
    /// scale, bias and activation.
    pub fn forward(&mut self, out: &mut [f32], biases: &[f32], act: Activation, ctx: &Ctx<'_>) {
        let c = self.scales.len();
        let len = out.len() / c;
        if !ctx.train {
            let (rm, rv, sc) = (&self.rolling_mean, &self.rolling_variance, &self.scales);
            ctx.for_chunks(out, len, |ch, v| {
                let inv = 1.0 / (rv[ch].sqrt() + 0.000001);
                // scale * (x - m) * inv + b = (scale*inv) x + (b - scale*inv*m)
                let a = sc[ch] * inv;
                affine_activate(v, a, biases[ch] - a * rm[ch], act);
            });
            return;
        }
        let denom = (len.max(2) - 1) as f32;
        let stats = |v: &[f32]| {
            let mean = sum(v) / len as f32;
            (mean, sum_sq_dev(v, mean) / denom)
        };
        let st: Vec<(f32, f32)> = if ctx.threads <= 1 {
            out.chunks(len).map(stats).collect()
        } else {
            ctx.pool
                .install(|| out.par_chunks(len).map(stats).collect())
        };
        for (ch, (m, v)) in st.into_iter().enumerate() {
            self.mean[ch] = m;
            self.variance[ch] = v;
            self.rolling_mean[ch] = 0.99 * self.rolling_mean[ch] + 0.01 * m;
            self.rolling_variance[ch] = 0.99 * self.rolling_variance[ch] + 0.01 * v;
        }
        self.x_norm.resize(out.len(), 0.0);
        let (mean, var, sc) = (&self.mean, &self.variance, &self.scales);
        let apply = |ch: usize, v: &mut [f32], xn: &mut [f32]| {
            let inv = 1.0 / (var[ch].sqrt() + 0.000001);
            let m = mean[ch];
            for (x, n) in v.iter_mut().zip(xn.iter_mut()) {
                *n = (*x - m) * inv;
                *x = *n;
            }
            affine_activate(v, sc[ch], biases[ch], act);
        };
        if ctx.threads <= 1 {
            for (ch, (v, xn)) in out
                .chunks_mut(len)
                .zip(self.x_norm.chunks_mut(len))
                .enumerate()
            {
                apply(ch, v, xn);
            }
        } else {
            ctx.pool.install(|| {
                out.par_chunks_mut(len)
                    .zip(self.x_norm.par_chunks_mut(len))
                    .enumerate()
                    .for_each(|(ch, (v, xn))| apply(ch, v, xn));
            });
        }
    }

    /// Given the layer's output `y` and its delta (w.r.t. `y`), turns `delta`
    /// into the delta w.r.t. the pre-normalisation values and accumulates
    /// `bias_updates` and `scale_updates`.
    pub fn backward(
        &mut self,
        y: &[f32],
        delta: &mut [f32],
        bias_updates: &mut [f32],
        act: Activation,
        ctx: &Ctx<'_>,
    ) {
        let c = self.scales.len();
        let len = delta.len() / c;
        let n = len as f32;
        let (var, sc, xn) = (&self.variance, &self.scales, &self.x_norm);
        let step = |ch: usize, d: &mut [f32]| -> (f32, f32) {
            let y = &y[ch * len..(ch + 1) * len];
            let xn = &xn[ch * len..(ch + 1) * len];
            let (sum_d, sum_dxn) = gradient_sum2(d, y, xn, act);
            let s = sc[ch];
            let v = var[ch];
            let inv_std = 1.0 / (v + 0.00001).sqrt();
            let mean_delta = s * sum_d * -inv_std;
            // sum(delta * scale * (x - mean)) with x - mean = x_norm * (sqrt(var) + 1e-6)
            let std_fwd = v.sqrt() + 0.000001;
            let variance_delta = s * sum_dxn * std_fwd * (-0.5 * (v + 0.00001).powf(-1.5));
            let a = s * inv_std;
            let b = variance_delta * 2.0 * std_fwd / n;
            let c0 = mean_delta / n;
            for (dv, x) in d.iter_mut().zip(xn) {
                *dv = *dv * a + *x * b + c0;
            }
            (sum_d, sum_dxn)
        };
        let sums: Vec<(f32, f32)> = if ctx.threads <= 1 {
            delta
                .chunks_mut(len)
                .enumerate()
                .map(|(ch, d)| step(ch, d))
                .collect()
        } else {
            ctx.pool.install(|| {
                delta
                    .par_chunks_mut(len)
                    .enumerate()
                    .map(|(ch, d)| step(ch, d))
                    .collect()
            })
        };
        for (ch, (sd, sdx)) in sums.into_iter().enumerate() {
            bias_updates[ch] += sd;
            self.scale_updates[ch] += sdx;
        }
    }
}
