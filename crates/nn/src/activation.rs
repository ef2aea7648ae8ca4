//! Activation functions and their gradients (Darknet's definitions), as fused
//! loops over one channel's contiguous values.

use crate::cfg::Activation;

#[inline(always)]
fn leaky(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.1 * x }
}

#[inline(always)]
fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `y = act(a * x + b)` in place.
pub(crate) fn affine_activate(v: &mut [f32], a: f32, b: f32, act: Activation) {
    match act {
        Activation::Leaky => v.iter_mut().for_each(|x| *x = leaky(a * *x + b)),
        Activation::Relu => v.iter_mut().for_each(|x| *x = (a * *x + b).max(0.0)),
        Activation::Linear => v.iter_mut().for_each(|x| *x = a * *x + b),
        Activation::Logistic => v.iter_mut().for_each(|x| *x = logistic(a * *x + b)),
    }
}

/// `y = act(x + b)` in place (bias and activation of layers without batch norm).
pub(crate) fn bias_activate(v: &mut [f32], b: f32, act: Activation) {
    match act {
        Activation::Leaky => v.iter_mut().for_each(|x| *x = leaky(*x + b)),
        Activation::Relu => v.iter_mut().for_each(|x| *x = (*x + b).max(0.0)),
        Activation::Linear => v.iter_mut().for_each(|x| *x += b),
        Activation::Logistic => v.iter_mut().for_each(|x| *x = logistic(*x + b)),
    }
}

/// Evaluates `$body` with `$g` bound to a closure computing the activation
/// gradient for `$act`: one monomorphised copy of the loop per activation, so
/// each vectorises (no per-element `match`).
macro_rules! per_activation {
    ($act:expr, |$g:ident| $body:expr) => {
        match $act {
            Activation::Leaky => {
                let $g = |y: f32| grad(y, Activation::Leaky);
                $body
            }
            Activation::Relu => {
                let $g = |y: f32| grad(y, Activation::Relu);
                $body
            }
            Activation::Linear => {
                let $g = |y: f32| grad(y, Activation::Linear);
                $body
            }
            Activation::Logistic => {
                let $g = |y: f32| grad(y, Activation::Logistic);
                $body
            }
        }
    };
}

/// `delta *= act'(y)` where `y` is the activation's output; returns the sum of
/// the new `delta` (the bias gradient of the channel).
pub(crate) fn gradient_sum(delta: &mut [f32], y: &[f32], act: Activation) -> f32 {
    per_activation!(act, |g| gradient_sum_with(delta, y, g))
}

#[inline(always)]
fn gradient_sum_with(delta: &mut [f32], y: &[f32], g: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut blocks_d = delta.chunks_exact_mut(16);
    let mut blocks_y = y.chunks_exact(16);
    for (d, yy) in (&mut blocks_d).zip(&mut blocks_y) {
        for i in 0..16 {
            d[i] *= g(yy[i]);
            acc[i] += d[i];
        }
    }
    let mut s = 0.0f32;
    for (d, yy) in blocks_d
        .into_remainder()
        .iter_mut()
        .zip(blocks_y.remainder())
    {
        *d *= g(*yy);
        s += *d;
    }
    acc.iter().sum::<f32>() + s
}

/// Like [`gradient_sum`], also returning `sum(delta * xn)` for batch norm.
pub(crate) fn gradient_sum2(
    delta: &mut [f32],
    y: &[f32],
    xn: &[f32],
    act: Activation,
) -> (f32, f32) {
    per_activation!(act, |g| gradient_sum2_with(delta, y, xn, g))
}

#[inline(always)]
fn gradient_sum2_with(
    delta: &mut [f32],
    y: &[f32],
    xn: &[f32],
    g: impl Fn(f32) -> f32,
) -> (f32, f32) {
    let mut a1 = [0.0f32; 16];
    let mut a2 = [0.0f32; 16];
    let mut bd = delta.chunks_exact_mut(16);
    let mut by = y.chunks_exact(16);
    let mut bx = xn.chunks_exact(16);
    for ((d, yy), xx) in (&mut bd).zip(&mut by).zip(&mut bx) {
        for i in 0..16 {
            d[i] *= g(yy[i]);
            a1[i] += d[i];
            a2[i] += d[i] * xx[i];
        }
    }
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for ((d, yy), xx) in bd
        .into_remainder()
        .iter_mut()
        .zip(by.remainder())
        .zip(bx.remainder())
    {
        *d *= g(*yy);
        s1 += *d;
        s2 += *d * xx;
    }
    (a1.iter().sum::<f32>() + s1, a2.iter().sum::<f32>() + s2)
}

/// Darknet's gradient of each activation, as a function of its output.
#[inline(always)]
pub(crate) fn grad(y: f32, act: Activation) -> f32 {
    match act {
        Activation::Leaky => {
            if y > 0.0 {
                1.0
            } else {
                0.1
            }
        }
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Linear => 1.0,
        Activation::Logistic => (1.0 - y) * y,
    }
}

/// Sum of a slice with 16 independent accumulators (vectorises; fixed order).
pub(crate) fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = v.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

/// Sum of squared deviations from `mean`, vectorised like [`sum`].
pub(crate) fn sum_sq_dev(v: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = v.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>()
        + it.remainder()
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f32>()
}
