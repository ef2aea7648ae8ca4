//! The GEMMs of the convolution layers of `cfg/mnist5.cfg`, per chunk of
//! images as the convolution cuts its batch (a chunk's column matrix holds
//! about 2^18 elements): forward `out[M, cols] = W[M, K] * X[K, cols]`, weight
//! gradient `dW[M, K] = D[M, cols] * X^T` and input gradient
//! `dX[K, cols] = W^T * D`, single-threaded, through the `gemm` crate as the
//! layers call it. Throughput counts floating-point operations (criterion
//! shows them as "elements": Gelem/s is GFLOP/s).
//!
//! ```sh
//! cargo bench -p nn --bench gemm              # or: -- --quick
//! ```

// A benchmark, not trusted code: it may read files and print.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

/// Column-matrix elements one chunk aims for (as the convolution layer sizes
/// its chunks).
const CHUNK_ELEMS: usize = 1 << 18;
/// The training batch of `cfg/mnist5.cfg` (a chunk holds at most a batch).
const BATCH: usize = 128;

/// One GEMM `dst[m, n] = lhs[m, k] * rhs[k, n]` with (row, column) strides.
struct Shape {
    m: usize,
    n: usize,
    k: usize,
    dst: (isize, isize),
    lhs: (isize, isize),
    rhs: (isize, isize),
}

/// Benchmarks `shape` under `name`.
fn bench_gemm(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, s: &Shape) {
    let mut dst = vec![0.0f32; s.m * s.n];
    let lhs = vec![0.5f32; s.m * s.k];
    let rhs = vec![0.25f32; s.k * s.n];
    group.throughput(Throughput::Elements(2 * (s.m * s.n * s.k) as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            // SAFETY: every shape below is a full `m x n`, `m x k` or `k x n`
            // matrix in row-major or transposed (column-major) order, so with
            // these strides each view lies inside its buffer of exactly that
            // many elements; `dst` is borrowed mutably and does not alias the
            // inputs.
            unsafe {
                gemm::gemm(
                    s.m,
                    s.n,
                    s.k,
                    dst.as_mut_ptr(),
                    s.dst.1,
                    s.dst.0,
                    false,
                    lhs.as_ptr(),
                    s.lhs.1,
                    s.lhs.0,
                    rhs.as_ptr(),
                    s.rhs.1,
                    s.rhs.0,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
    });
}

fn gemm_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    // (label, filters M, K = in-channels * 3 * 3, N = output pixels per image)
    for (label, m, k, n) in [
        ("conv1", 16usize, 9usize, 784usize),
        ("conv2", 32, 144, 784),
        ("conv3", 32, 288, 196),
        ("conv4", 64, 288, 196),
        ("conv5", 64, 576, 49),
    ] {
        let nb = (CHUNK_ELEMS / (k * n)).clamp(1, BATCH);
        let cols = nb * n;
        let (k_, c_) = (k as isize, cols as isize);
        let forward = Shape {
            m,
            n: cols,
            k,
            dst: (c_, 1),
            lhs: (k_, 1),
            rhs: (c_, 1),
        };
        let weight_grad = Shape {
            m,
            n: k,
            k: cols,
            dst: (k_, 1),
            lhs: (c_, 1),
            rhs: (1, c_),
        };
        bench_gemm(&mut group, &format!("{label}-nb{nb}/forward"), &forward);
        bench_gemm(
            &mut group,
            &format!("{label}-nb{nb}/weight-grad"),
            &weight_grad,
        );
        // The first layer has no input gradient to compute.
        if label != "conv1" {
            let input_grad = Shape {
                m: k,
                n: cols,
                k: m,
                dst: (c_, 1),
                lhs: (1, k_),
                rhs: (c_, 1),
            };
            bench_gemm(
                &mut group,
                &format!("{label}-nb{nb}/input-grad"),
                &input_grad,
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = gemm_shapes
}
criterion_main!(benches);
