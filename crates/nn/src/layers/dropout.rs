//! Dropout (Darknet's): in training each input is zeroed with probability `p`
//! and the others are scaled by `1/(1-p)`; at inference the layer is the identity.

use super::Ctx;
use crate::rng::DropoutRng;

/// A dropout layer.
pub(crate) struct Dropout {
    /// Draws below this threshold (`p * 2^32`) drop the element.
    threshold: u64,
    scale: f32,
    /// The draws of the last training pass (one per element).
    rand: Vec<u32>,
}

impl Dropout {
    pub fn new(p: f32, n: usize) -> Self {
        Dropout {
            threshold: (f64::from(p) * 4294967296.0) as u64,
            scale: 1.0 / (1.0 - p),
            rand: vec![0; n],
        }
    }

    pub fn forward(&mut self, input: &[f32], out: &mut [f32], ctx: &Ctx<'_>, rng: &mut DropoutRng) {
        if !ctx.train {
            out.copy_from_slice(input);
            return;
        }
        rng.fill(&mut self.rand);
        let (t, s) = (self.threshold, self.scale);
        for ((o, x), r) in out.iter_mut().zip(input).zip(&self.rand) {
            *o = if u64::from(*r) < t { 0.0 } else { x * s };
        }
    }

    pub fn backward(&self, delta: &[f32], prev: &mut [f32], _ctx: &Ctx<'_>) {
        let (t, s) = (self.threshold, self.scale);
        for ((p, d), r) in prev.iter_mut().zip(delta).zip(&self.rand) {
            *p = if u64::from(*r) < t { 0.0 } else { d * s };
        }
    }
}
