//! Convolution by im2col + GEMM.
//!
//! The batch is cut into chunks of `nb` images (sized so one chunk's column
//! matrix stays in the L2 cache); chunk `i` always covers the same images
//! whatever the thread count, chunks are spread over the threads, and every
//! chunk's weight gradient goes to its own partial buffer, summed in chunk
//! order afterwards. The results are thus identical for any thread count.
//!
//! With output channels `M`, `K = C*size*size` and `N = OH*OW` per image:
//! forward `out[M, chunk] = W[M,K] * cols[K, chunk]`; backward
//! `dW += delta[M, chunk] * cols^T` and `dcols = W^T * delta[M, chunk]`, then col2im.
//! A 1x1, stride-1, unpadded convolution uses its input as the column matrix.

use super::{Ctx, Params, Workspace};
use crate::activation::{bias_activate, gradient_sum};
use crate::cfg::{Activation, ConvConfig, LayerSpec};
use crate::im2col::{ConvGeom, col2im, im2col};
use crate::kernels::{SharedMut, Strided, gemm_shared};
use crate::rng::InitRng;

/// Column-matrix elements one chunk aims for (`K * nb * N`): 1 MiB of f32.
const CHUNK_ELEMS: usize = 1 << 18;

/// A convolutional layer.
pub(crate) struct Conv {
    pub geom: ConvGeom,
    pub filters: usize,
    pub act: Activation,
    pub params: Params,
    /// Images per chunk.
    pub nb: usize,
    /// Per-chunk partial weight gradients.
    parts: Vec<f32>,
    /// Per-chunk partial bias gradients (layers without batch norm).
    bias_parts: Vec<f32>,
}

impl Conv {
    pub fn new(c: &ConvConfig, spec: &LayerSpec, batch: usize, init: &mut InitRng) -> Self {
        let geom = ConvGeom {
            c: spec.input.c,
            h: spec.input.h,
            w: spec.input.w,
            size: c.size,
            stride: c.stride,
            pad: c.padding,
            oh: spec.output.h,
            ow: spec.output.w,
        };
        let k = geom.k();
        let scale = (2.0 / k as f32).sqrt();
        let weights: Vec<f32> = (0..k * c.filters).map(|_| scale * init.normal()).collect();
        let per_image = (k * geom.n()).max(1);
        let nb = (CHUNK_ELEMS / per_image).clamp(1, batch);
        let nchunks = batch.div_ceil(nb);
        Conv {
            geom,
            filters: c.filters,
            act: c.activation,
            params: Params::new(weights, c.filters, c.batch_normalize),
            nb,
            parts: vec![0.0; nchunks * k * c.filters],
            bias_parts: Vec::new(),
        }
    }

    /// Scratch elements one thread needs for `cols` / `dcols`.
    pub fn workspace_len(&self) -> usize {
        if self.geom.is_pointwise() {
            0
        } else {
            self.geom.k() * self.nb * self.geom.n()
        }
    }

    fn chunks(&self, batch: usize) -> usize {
        batch.div_ceil(self.nb)
    }

    pub fn forward(&mut self, input: &[f32], out: &mut [f32], ctx: &Ctx<'_>, ws: &mut [Workspace]) {
        let b = ctx.batch;
        let g = self.geom;
        let (m, k, n) = (self.filters, g.k(), g.n());
        let nchunks = self.chunks(b);
        let nb = self.nb;
        let threads = ws.len().min(nchunks).max(1);
        let bn = self.params.bn.is_some();
        let (weights, biases, act) = (&self.params.weights, &self.params.biases, self.act);
        let shared = SharedMut::new(out);
        ctx.for_threads(&mut ws[..threads], |t, w| {
            for chunk in (t * nchunks / threads)..((t + 1) * nchunks / threads) {
                let b0 = chunk * nb;
                let cnt = nb.min(b - b0);
                let dst = Strided {
                    offset: b0 * n,
                    rs: b * n,
                    cs: 1,
                };
                let (rhs, r): (&[f32], Strided) = if g.is_pointwise() {
                    (
                        input,
                        Strided {
                            offset: b0 * n,
                            rs: b * n,
                            cs: 1,
                        },
                    )
                } else {
                    im2col(&g, input, b, b0, cnt, &mut w.cols);
                    (&w.cols, Strided::row_major(0, cnt * n))
                };
                // SAFETY: chunk `chunk` writes only columns [b0*n, (b0+cnt)*n) of
                // every row of `out`; chunks are disjoint and each runs on one
                // thread; `out` stays borrowed until for_threads returns.
                unsafe {
                    gemm_shared(
                        m,
                        cnt * n,
                        k,
                        shared,
                        dst,
                        false,
                        weights,
                        Strided::row_major(0, k),
                        rhs,
                        r,
                    );
                }
                if !bn {
                    for (f, &bias) in biases.iter().enumerate() {
                        // SAFETY: the same disjoint region as the GEMM above.
                        let v = unsafe { shared.slice(f * b * n + b0 * n, cnt * n) };
                        bias_activate(v, bias, act);
                    }
                }
            }
        });
        if let Some(bnorm) = &mut self.params.bn {
            bnorm.forward(out, biases, act, ctx);
        }
    }

    pub fn backward(
        &mut self,
        input: &[f32],
        out: &[f32],
        delta: &mut [f32],
        prev_delta: Option<&mut [f32]>,
        ctx: &Ctx<'_>,
        ws: &mut [Workspace],
    ) {
        let b = ctx.batch;
        let g = self.geom;
        let (m, k, n) = (self.filters, g.k(), g.n());
        let act = self.act;
        // delta w.r.t. the pre-activation (and pre-normalisation) values. With
        // batch norm this needs whole-channel sums first; without, the
        // activation gradient and the bias sums are done per chunk below,
        // while the chunk's delta is in cache.
        let bn = self.params.bn.is_some();
        if let Some(bnorm) = &mut self.params.bn {
            bnorm.backward(out, delta, &mut self.params.bias_updates, act, ctx);
        }
        let nchunks = self.chunks(b);
        let nb = self.nb;
        let threads = ws.len().min(nchunks).max(1);
        let weights = &self.params.weights;
        let delta = SharedMut::new(delta);
        let parts = SharedMut::new(&mut self.parts);
        self.bias_parts.resize(nchunks * m, 0.0);
        let bias_parts = SharedMut::new(&mut self.bias_parts);
        let prev = prev_delta.map(SharedMut::new);
        let hw = g.h * g.w;
        ctx.for_threads(&mut ws[..threads], |t, w| {
            for chunk in (t * nchunks / threads)..((t + 1) * nchunks / threads) {
                let b0 = chunk * nb;
                let cnt = nb.min(b - b0);
                if !bn {
                    // SAFETY: this chunk's bias partials are its own.
                    let sums = unsafe { bias_parts.slice(chunk * m, m) };
                    for (f, s) in sums.iter_mut().enumerate() {
                        let at = f * b * n + b0 * n;
                        // SAFETY: columns [b0*n, (b0+cnt)*n) of each row of
                        // delta belong to this chunk only.
                        let d = unsafe { delta.slice(at, cnt * n) };
                        *s = gradient_sum(d, &out[at..at + cnt * n], act);
                    }
                }
                let d = Strided {
                    offset: b0 * n,
                    rs: b * n,
                    cs: 1,
                };
                let (cols, c_t): (&[f32], Strided) = if g.is_pointwise() {
                    (
                        input,
                        Strided {
                            offset: b0 * n,
                            rs: 1,
                            cs: b * n,
                        },
                    )
                } else {
                    im2col(&g, input, b, b0, cnt, &mut w.cols);
                    (
                        &w.cols,
                        Strided {
                            offset: 0,
                            rs: 1,
                            cs: cnt * n,
                        },
                    )
                };
                // dW (m x k) = delta (m x cnt*n) * cols^T, stored column-major
                // (`rs = 1`): the `gemm` crate then packs only the small delta
                // block, not the column matrix.
                // SAFETY: chunk `chunk` owns part [chunk*m*k, (chunk+1)*m*k)
                // and reads only its own columns of delta, which no other
                // thread writes.
                unsafe {
                    gemm_shared(
                        m,
                        k,
                        cnt * n,
                        parts,
                        Strided {
                            offset: chunk * m * k,
                            rs: 1,
                            cs: m,
                        },
                        false,
                        delta,
                        d,
                        cols,
                        c_t,
                    );
                }
                let Some(prev) = prev else { continue };
                let w_t = Strided {
                    offset: 0,
                    rs: 1,
                    cs: k,
                };
                if g.is_pointwise() {
                    // SAFETY: writes only columns [b0*n, (b0+cnt)*n) of each
                    // channel row of the previous delta: disjoint across chunks.
                    unsafe {
                        gemm_shared(
                            k,
                            cnt * n,
                            m,
                            prev,
                            Strided {
                                offset: b0 * n,
                                rs: b * n,
                                cs: 1,
                            },
                            false,
                            weights,
                            w_t,
                            delta,
                            d,
                        );
                    }
                } else {
                    let dcols = SharedMut::new(&mut w.dcols);
                    // SAFETY: `dcols` is this thread's scratch; delta columns
                    // read are this chunk's own.
                    unsafe {
                        gemm_shared(
                            k,
                            cnt * n,
                            m,
                            dcols,
                            Strided::row_major(0, cnt * n),
                            false,
                            weights,
                            w_t,
                            delta,
                            d,
                        );
                    }
                    // SAFETY: the planes of images b0..b0+cnt of each channel
                    // belong to this chunk only.
                    col2im(&g, &mut w.dcols, cnt, |c| unsafe {
                        prev.slice((c * b + b0) * hw, cnt * hw)
                    });
                }
            }
        });
        if !bn {
            for sums in self.bias_parts.chunks(m).take(nchunks) {
                for (u, s) in self.params.bias_updates.iter_mut().zip(sums) {
                    *u += s;
                }
            }
        }
        // Sum the partial weight gradients (column-major) in chunk order,
        // then add them, transposed, to the row-major momentum buffer.
        let mk = m * k;
        let (first, rest) = self.parts.split_at_mut(mk);
        const RED: usize = 4096;
        let rest: &[f32] = rest;
        ctx.for_chunks(first, RED, |i, acc| {
            for ch in 1..nchunks {
                let p = &rest[(ch - 1) * mk + i * RED..][..acc.len()];
                for (a, v) in acc.iter_mut().zip(p) {
                    *a += v;
                }
            }
        });
        for (f, row) in self.params.weight_updates.chunks_mut(k).enumerate() {
            for (kk, u) in row.iter_mut().enumerate() {
                *u += first[kk * m + f];
            }
        }
    }
}
