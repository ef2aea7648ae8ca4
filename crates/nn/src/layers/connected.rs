//! Fully connected layer (Darknet's `[connected]`): `out = W x + b` with `W`
//! stored `outputs x inputs`, the input flattened per image in `c, h, w` order.

use super::{Ctx, Params};
use crate::activation::{bias_activate, gradient_sum};
use crate::cfg::{Activation, LayerSpec};
use crate::kernels::{Strided, gemm};
use crate::rng::InitRng;

/// A connected layer.
pub(crate) struct Connected {
    pub inputs: usize,
    pub outputs: usize,
    pub act: Activation,
    pub params: Params,
    /// The input gathered as `[B][inputs]` (the layout of Darknet's matrices).
    xg: Vec<f32>,
    /// The input gradient in the same layout.
    dxg: Vec<f32>,
}

impl Connected {
    pub fn new(
        inputs: usize,
        outputs: usize,
        act: Activation,
        bn: bool,
        batch: usize,
        init: &mut InitRng,
    ) -> Self {
        let scale = (2.0 / inputs as f32).sqrt();
        let weights: Vec<f32> = (0..inputs * outputs)
            .map(|_| scale * (2.0 * init.uniform() - 1.0))
            .collect();
        Connected {
            inputs,
            outputs,
            act,
            params: Params::new(weights, outputs, bn),
            xg: vec![0.0; batch * inputs],
            dxg: vec![0.0; batch * inputs],
        }
    }

    pub fn forward(&mut self, input: &[f32], spec: &LayerSpec, out: &mut [f32], ctx: &Ctx<'_>) {
        let b = ctx.batch;
        let (ni, no) = (self.inputs, self.outputs);
        let s = spec.input.h * spec.input.w;
        for c in 0..spec.input.c {
            for bi in 0..b {
                let src = &input[(c * b + bi) * s..][..s];
                self.xg[bi * ni + c * s..][..s].copy_from_slice(src);
            }
        }
        gemm(
            no,
            b,
            ni,
            out,
            Strided::row_major(0, b),
            false,
            &self.params.weights,
            Strided::row_major(0, ni),
            &self.xg,
            Strided {
                offset: 0,
                rs: 1,
                cs: ni,
            },
        );
        if let Some(bn) = &mut self.params.bn {
            bn.forward(out, &self.params.biases, self.act, ctx);
        } else {
            for (o, v) in out.chunks_mut(b).enumerate() {
                bias_activate(v, self.params.biases[o], self.act);
            }
        }
    }

    pub fn backward(
        &mut self,
        spec: &LayerSpec,
        out: &[f32],
        delta: &mut [f32],
        prev_delta: Option<&mut [f32]>,
        ctx: &Ctx<'_>,
    ) {
        let b = ctx.batch;
        let (ni, no) = (self.inputs, self.outputs);
        if let Some(bn) = &mut self.params.bn {
            bn.backward(out, delta, &mut self.params.bias_updates, self.act, ctx);
        } else {
            for (o, (d, y)) in delta.chunks_mut(b).zip(out.chunks(b)).enumerate() {
                self.params.bias_updates[o] += gradient_sum(d, y, self.act);
            }
        }
        gemm(
            no,
            ni,
            b,
            &mut self.params.weight_updates,
            Strided::row_major(0, ni),
            true,
            delta,
            Strided::row_major(0, b),
            &self.xg,
            Strided::row_major(0, ni),
        );
        if let Some(prev) = prev_delta {
            gemm(
                b,
                ni,
                no,
                &mut self.dxg,
                Strided::row_major(0, ni),
                false,
                delta,
                Strided {
                    offset: 0,
                    rs: 1,
                    cs: b,
                },
                &self.params.weights,
                Strided::row_major(0, ni),
            );
            let s = spec.input.h * spec.input.w;
            for c in 0..spec.input.c {
                for bi in 0..b {
                    prev[(c * b + bi) * s..][..s]
                        .copy_from_slice(&self.dxg[bi * ni + c * s..][..s]);
                }
            }
        }
    }
}
