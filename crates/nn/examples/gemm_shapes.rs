//! Measures the `gemm` crate on the convolution shapes of the benchmark models
//! (forward, weight-gradient and input-gradient GEMMs, per chunk of images).
//! Prints the best GFLOP/s over repeated calls (robust to a loaded machine).
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::time::Instant;

#[allow(clippy::too_many_arguments)]
fn run(
    name: &str,
    m: usize,
    n: usize,
    k: usize,
    d: (isize, isize),
    l: (isize, isize),
    r: (isize, isize),
    reps: usize,
) {
    let dst = vec![0.0f32; m * n + 64];
    let lhs = vec![0.5f32; m * k + 64];
    let rhs = vec![0.25f32; k * n + 64];
    let mut best = f64::MAX;
    for _ in 0..reps * 3 {
        let t = Instant::now();
        {
            // SAFETY: all views are inside the buffers (sizes m*n, m*k, k*n with unit/row strides).
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_ptr() as *mut f32,
                    d.1,
                    d.0,
                    false,
                    lhs.as_ptr(),
                    l.1,
                    l.0,
                    rhs.as_ptr(),
                    r.1,
                    r.0,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        best = best.min(t.elapsed().as_nanos() as f64);
    }
    let gf = 2.0 * (m * n * k) as f64 / best;
    println!(
        "{name:<40} m={m:<6} n={n:<7} k={k:<6} {:>8.3} ms  {gf:>6.1} GFLOP/s",
        best / 1e6
    );
}

fn main() {
    // (M filters, K, N pixels per image, images per chunk)
    for &(mm, kk, nn, label) in &[
        (32usize, 144usize, 784usize, "conv2"),
        (64, 288, 196, "conv4"),
        (64, 576, 49, "conv5"),
        (64, 576, 196, "mnist conv64"),
    ] {
        for nb in [2usize, 4, 8, 16, 128] {
            let cols = nb * nn;
            let reps = (2e8 / (2.0 * (mm * cols * kk) as f64)).max(1.0) as usize;
            // forward: out[M, cols] (row-major) = W[M,K] * X[K, cols]
            run(
                &format!("{label} fwd nb={nb}"),
                mm,
                cols,
                kk,
                (cols as isize, 1),
                (kk as isize, 1),
                (cols as isize, 1),
                reps,
            );
            // dW[M,K] = D[M, cols] * X^T
            run(
                &format!("{label} dW nb={nb}"),
                mm,
                kk,
                cols,
                (kk as isize, 1),
                (cols as isize, 1),
                (1, cols as isize),
                reps,
            );
            // dX[K, cols] = W^T * D
            run(
                &format!("{label} dX nb={nb}"),
                kk,
                cols,
                mm,
                (cols as isize, 1),
                (1, kk as isize),
                (cols as isize, 1),
                reps,
            );
        }
    }
}
