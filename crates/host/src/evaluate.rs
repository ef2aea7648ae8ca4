//! Test accuracy of the model a training job's pool holds (`plinius eval
//! --pool`). The enclave unseals its keys from the pool,
//! mirrors the model in (decrypting it inside) and classifies the test
//! images the host hands it; no parameter leaves the enclave.

use std::path::Path;

use crate::error::{Context, Result};

use crate::job::{Job, JobOptions};
use crate::progress::Progress;

/// What `eval --pool` measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolEval {
    /// The iteration of the evaluated model.
    pub iteration: u64,
    /// Accuracy on the test images, 0..=1.
    pub accuracy: f32,
    /// Test images.
    pub images: usize,
}

/// Evaluates the model in the job `opts` on the MNIST test split in `mnist_test`
/// (`t10k-*` IDX files, raw or gzip). `key`: the owner's key file, used only
/// if the keys sealed in the pool do not unseal here.
pub fn eval_pool(
    opts: &JobOptions,
    mnist_test: &Path,
    key: Option<&Path>,
    progress: &mut dyn Progress,
) -> Result<PoolEval> {
    let test = hostio::idx::load_split(mnist_test, "t10k")
        .with_context(|| format!("loading the MNIST test split from {}", mnist_test.display()))?;
    let mut job = Job::resume_existing_with_key(opts, key, progress)?;
    let accuracy = job
        .enclave
        .evaluate(&test.images.pixels, &test.labels)
        .context("evaluating inside the enclave")?;
    Ok(PoolEval {
        iteration: job.enclave.iteration(),
        accuracy,
        images: test.len(),
    })
}

impl PoolEval {
    /// The line that says what was measured on the model of `pool`.
    pub fn summary(&self, pool: &Path) -> String {
        format!(
            "test accuracy: {:.2}% ({} MNIST test images; model of {} at iteration {})",
            self.accuracy * 100.0,
            self.images,
            pool.display(),
            self.iteration
        )
    }
}
