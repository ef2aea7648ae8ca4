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
        let off = self.padding / 2;
        // Valid input range of each window, per output row / column.
        let range = |o: usize, d: usize| {
            let start = o * stride;
            let lo = start.max(off) - off;
            let hi = (start + size).saturating_sub(off).min(d);
            (lo, hi.max(lo))
        };
        let rows: Vec<(usize, usize)> = (0..oh).map(|i| range(i, h)).collect();
        let colr: Vec<(usize, usize)> = (0..ow).map(|j| range(j, w)).collect();
        let plane = |p: usize, o: &mut [f32], idx: &mut [u32]| {
            let src = &input[p * h * w..(p + 1) * h * w];
            for (i, &(y0, y1)) in rows.iter().enumerate() {
                if size == 2 && stride == 2 && off == 0 && y1 == y0 + 2 {
                    // Fast path: full 2x2 windows (Darknet's tie rule: the first
                    // maximum in row-major window order wins).
                    let l0 = &src[y0 * w..(y0 + 1) * w];
                    let l1 = &src[(y0 + 1) * w..(y0 + 2) * w];
                    let full = (w / 2).min(ow);
                    let orow = &mut o[i * ow..i * ow + full];
                    let irow = &mut idx[i * ow..i * ow + full];
                    // Branch-free, with wrapping u32 index arithmetic (the same
                    // in-plane indexes as `(y * w + x) as u32` below), so the
                    // loop has no overflow checks and can vectorise.
                    let (w32, base) = (w as u32, (y0 * w) as u32);
                    let mut at = base;
                    for (((ov, iv), p0), p1) in orow
                        .iter_mut()
                        .zip(irow.iter_mut())
                        .zip(l0.chunks_exact(2))
                        .zip(l1.chunks_exact(2))
                    {
                        let (a, b, c, d) = (p0[0], p0[1], p1[0], p1[1]);
                        let (m1, i1) = if b > a { (b, 1u32) } else { (a, 0u32) };
                        let (m2, i2) = if d > c {
                            (d, w32.wrapping_add(1))
                        } else {
                            (c, w32)
                        };
                        let (m, k) = if m2 > m1 { (m2, i2) } else { (m1, i1) };
                        *ov = m;
                        *iv = at.wrapping_add(k);
                        at = at.wrapping_add(2);
                    }
                    for (j, &(x0, x1)) in colr.iter().enumerate().skip(full) {
                        let mut best = f32::NEG_INFINITY;
                        let mut best_i = u32::MAX;
                        for y in y0..y1 {
                            for x in x0..x1 {
                                let v = src[y * w + x];
                                if v > best || best_i == u32::MAX {
                                    best = v;
                                    best_i = (y * w + x) as u32;
                                }
                            }
                        }
                        o[i * ow + j] = best;
                        idx[i * ow + j] = best_i;
                    }
                    continue;
                }
                for (j, &(x0, x1)) in colr.iter().enumerate() {
                    let mut best = f32::NEG_INFINITY;
                    let mut best_i = u32::MAX;
                    for y in y0..y1 {
                        for (x, &v) in src[y * w + x0..y * w + x1].iter().enumerate() {
                            if v > best || best_i == u32::MAX {
                                best = v;
                                best_i = (y * w + x0 + x) as u32;
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
                    .for_each(|(p, (o, i))| plane(p, o, i));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfg::{LayerConfig, Shape};

    /// Darknet's maxpool loop, verbatim in structure.
    fn naive(
        input: &[f32],
        planes: usize,
        h: usize,
        w: usize,
        size: usize,
        stride: usize,
        pad: usize,
    ) -> Vec<f32> {
        let oh = (h + pad - size) / stride + 1;
        let ow = (w + pad - size) / stride + 1;
        let off = -((pad / 2) as isize);
        let mut out = Vec::new();
        for p in 0..planes {
            for i in 0..oh {
                for j in 0..ow {
                    let mut max = f32::NEG_INFINITY;
                    for n in 0..size {
                        for m in 0..size {
                            let y = off + (i * stride + n) as isize;
                            let x = off + (j * stride + m) as isize;
                            if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                                max = max.max(input[p * h * w + y as usize * w + x as usize]);
                            }
                        }
                    }
                    out.push(max);
                }
            }
        }
        out
    }

    #[test]
    fn maxpool_matches_darknet_loop() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for &(h, w, size, stride, pad) in &[
            (28, 28, 2, 2, 1),
            (7, 7, 2, 2, 1),
            (6, 5, 2, 2, 0),
            (9, 9, 3, 2, 2),
            (5, 6, 3, 1, 2),
        ] {
            let batch = 2;
            let c = 3;
            let oh = (h + pad - size) / stride + 1;
            let ow = (w + pad - size) / stride + 1;
            let spec = LayerSpec {
                config: LayerConfig::MaxPool {
                    size,
                    stride,
                    padding: pad,
                },
                line: 1,
                input: Shape { c, h, w },
                output: Shape { c, h: oh, w: ow },
                params: 0,
                forward_flops: 0,
            };
            let input: Vec<f32> = (0..c * batch * h * w)
                .map(|i| ((i * 37) % 23) as f32 - 11.0)
                .collect();
            let mut mp = MaxPool::new(size, stride, pad, &spec, batch);
            let mut out = vec![0.0; c * batch * oh * ow];
            let ctx = Ctx {
                pool: &pool,
                threads: 1,
                batch,
                train: true,
            };
            mp.forward(&input, &spec, &mut out, &ctx);
            assert_eq!(
                out,
                naive(&input, c * batch, h, w, size, stride, pad),
                "{h}x{w} {size}/{stride} pad {pad}"
            );
            for (p, (o, i)) in out
                .chunks(oh * ow)
                .zip(mp.indexes.chunks(oh * ow))
                .enumerate()
            {
                for (v, &k) in o.iter().zip(i) {
                    assert_eq!(input[p * h * w + k as usize], *v);
                }
            }
        }
    }
}
