//! The loss layers: softmax with cross-entropy (Darknet's `softmax_x_ent`:
//! `delta = truth - p`, loss `-log p` where truth is set) and the SSE cost.

use super::Ctx;
use crate::cfg::LayerSpec;

/// A softmax layer.
pub(crate) struct Softmax {
    pub groups: usize,
    pub temperature: f32,
    pub scratch: Vec<f32>,
}

impl Softmax {
    /// Computes the softmax; in training with a target, also the delta and the
    /// loss (summed over the mini-batch), which it returns.
    pub fn forward(
        &mut self,
        input: &[f32],
        spec: &LayerSpec,
        out: &mut [f32],
        delta: &mut [f32],
        ctx: &Ctx<'_>,
        truth: Option<&[f32]>,
    ) -> Option<f32> {
        let b = ctx.batch;
        let n = spec.input.len();
        let s = spec.input.h * spec.input.w;
        let c = spec.input.c;
        let gsize = n / self.groups;
        self.scratch.resize(n, 0.0);
        // element (image bi, flat index i = ch*s + k) lives at (ch*b + bi)*s + k
        let at = |bi: usize, i: usize| ((i / s) * b + bi) * s + i % s;
        for bi in 0..b {
            for (i, v) in self.scratch.iter_mut().enumerate() {
                *v = input[at(bi, i)];
            }
            for g in self.scratch.chunks_mut(gsize) {
                let largest = g.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for v in g.iter_mut() {
                    *v = (*v / self.temperature - largest / self.temperature).exp();
                    sum += *v;
                }
                for v in g.iter_mut() {
                    *v /= sum;
                }
            }
            for (i, v) in self.scratch.iter().enumerate() {
                out[at(bi, i)] = *v;
            }
        }
        let _ = c;
        let truth = truth?;
        if !ctx.train {
            return None;
        }
        let mut loss = 0.0f32;
        for ((d, p), t) in delta.iter_mut().zip(out.iter()).zip(truth) {
            if *t != 0.0 {
                loss += -p.ln();
            }
            *d = t - p;
        }
        Some(loss)
    }
}

/// An SSE cost layer: `delta = truth - x`, loss `sum (truth - x)^2`.
pub(crate) struct Cost {
    pub scale: f32,
}

impl Cost {
    pub fn forward(
        &mut self,
        input: &[f32],
        out: &mut [f32],
        delta: &mut [f32],
        truth: Option<&[f32]>,
    ) -> Option<f32> {
        out.copy_from_slice(input);
        let truth = truth?;
        let mut loss = 0.0f32;
        for ((d, x), t) in delta.iter_mut().zip(input).zip(truth) {
            *d = t - x;
            loss += *d * *d;
        }
        Some(loss)
    }

    /// Adds `scale * delta` to the previous layer's delta.
    pub fn backward(&self, delta: &[f32], prev: &mut [f32]) {
        for (p, d) in prev.iter_mut().zip(delta) {
            *p += self.scale * d;
        }
    }
}
