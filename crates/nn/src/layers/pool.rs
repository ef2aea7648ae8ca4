//! Max pooling (Darknet's window placement: offset `-padding/2`, positions
//! outside the image never win) and global average pooling.

use rayon::prelude::*;

use super::Ctx;
use crate::cfg::LayerSpec;

/// A max-pooling layer.
pub(crate) struct MaxPool {
    size: usize,
    stride: usize,
    padding: usize,
    /// For each output, the index of the winning input within its plane.
    indexes: Vec<u32>,
}

impl MaxPool {
    pub fn new(size: usize, stride: usize, padding: usize, spec: &LayerSpec, batch: usize) -> Self {
        MaxPool {
            size,
            stride,
            padding,
            indexes: vec![0; spec.output.len() * batch],
        }
    }

    pub fn forward(&mut self, input: &[f32], spec: &LayerSpec, out: &mut [f32], ctx: &Ctx<'_>) {
        let (h, w) = (spec.input.h, spec.input.w);
        let (oh, ow) = (spec.output.h, spec.output.w);
        let (size, stride) = (self.size, self.stride);
        let off = (self.padding / 2) as isize;
        let plane = |p: usize, o: &mut [f32], idx: &mut [u32]| {
            let src = &input[p * h * w..(p + 1) * h * w];
            for i in 0..oh {
                for j in 0..ow {
                    let mut best = f32::NEG_INFINITY;
                    let mut best_i = u32::MAX;
                    for n in 0..size {
                        let y = (i * stride + n) as isize - off;
                        if y < 0 || y >= h as isize {
                            continue;
                        }
                        for m in 0..size {
                            let x = (j * stride + m) as isize - off;
                            if x < 0 || x >= w as isize {
                                continue;
                            }
                            let at = y as usize * w + x as usize;
                            if src[at] > best || best_i == u32::MAX {
                                best = src[at];
                                best_i = at as u32;
                            }
                        }
                    }
                    o[i * ow + j] = best;
                    idx[i * ow + j] = best_i;
                }
            }
        };
        let op = oh * ow;
        if ctx.threads <= 1 {
            out.chunks_mut(op)
                .zip(self.indexes.chunks_mut(op))
                .enumerate()
                .for_each(|(p, (o, i))| plane(p, o, i));
        } else {
            ctx.pool.install(|| {
                out.par_chunks_mut(op)
                    .zip(self.indexes.par_chunks_mut(op))
                    .enumerate()
                    .for_each(|(p, (o, i))| plane(p, o, i))
            });
        }
    }

    pub fn backward(&self, spec: &LayerSpec, delta: &[f32], prev: &mut [f32], ctx: &Ctx<'_>) {
        let ip = spec.input.h * spec.input.w;
        let op = spec.output.h * spec.output.w;
        let idx = &self.indexes;
        ctx.for_chunks(prev, ip, |p, d| {
            d.fill(0.0);
            for (k, &i) in idx[p * op..(p + 1) * op].iter().enumerate() {
                if i != u32::MAX {
                    d[i as usize] += delta[p * op + k];
                }
            }
        });
    }
}

/// Global average pooling forward: one mean per (channel, image) plane.
pub(crate) fn avg_forward(input: &[f32], spec: &LayerSpec, out: &mut [f32], _ctx: &Ctx<'_>) {
    let s = spec.input.h * spec.input.w;
    for (o, plane) in out.iter_mut().zip(input.chunks(s)) {
        *o = crate::activation::sum(plane) / s as f32;
    }
}

/// Global average pooling backward.
pub(crate) fn avg_backward(spec: &LayerSpec, delta: &[f32], prev: &mut [f32], _ctx: &Ctx<'_>) {
    let s = spec.input.h * spec.input.w;
    for (d, plane) in delta.iter().zip(prev.chunks_mut(s)) {
        plane.fill(d / s as f32);
    }
}
