//! Keys and data for the in-process benchmarks: owner keys, a simulated
//! platform, the enclave keys provisioned from them, and MNIST sealed by the
//! owner into a temporary directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hostio::fs::{AtomicOptions, write_atomic_with};
use seal::KeyBundle;
use seal::dataset::{DatasetHeader, DatasetWriter, Split};

use crate::error::{ExperimentError, Result};

/// Keys and data for in-process benchmarks: an owner key bundle, a simulated
/// platform, and the enclave keys provisioned from them (development flow,
/// in-process, as `--key` does).
pub struct InProcess {
    /// The owner's keys.
    pub bundle: KeyBundle,
    /// The simulated platform.
    pub platform: hostio::platform::SimPlatform,
    /// A scratch directory (platform, sealed data).
    pub dir: tempfile::TempDir,
}

impl InProcess {
    /// Fresh owner keys and a fresh simulated platform in a temporary directory.
    pub fn new() -> Result<InProcess> {
        let dir = tempfile::Builder::new()
            .prefix("plinius-bench-")
            .tempdir()
            .map_err(ExperimentError::io(
                std::env::temp_dir(),
                "cannot create a temporary directory",
            ))?;
        let (platform, _) =
            hostio::platform::SimPlatform::open_or_create(&dir.path().join("platform"))?;
        Ok(InProcess {
            bundle: KeyBundle::generate()?,
            platform,
            dir,
        })
    }

    /// The enclave's keys, provisioned in-process with simulated evidence.
    pub fn keys(&self) -> Result<enclave::Keys> {
        let provider = self.platform.provider(enclave::measurement());
        let policy = seal::evidence::Policy {
            allow_sim: true,
            sim_platform_key: Some(self.platform.public_key()),
            ..seal::evidence::Policy::default()
        };
        Ok(enclave::Keys::dev_provision(
            &provider,
            &policy,
            &self.bundle,
            &self.platform,
        )?)
    }

    /// Seals the first `n` MNIST training samples into a file in the scratch
    /// directory and returns its path.
    pub fn seal_mnist(&self, mnist: &Path, n: usize) -> Result<PathBuf> {
        let out = self.dir.path().join(format!("train-{n}.sealed"));
        seal_mnist(mnist, n, &self.bundle, &out)?;
        Ok(out)
    }
}

/// Seals the first `n` MNIST training images (at least one, at most all)
/// into a sealed dataset file at `out`, with a fresh random dataset id
/// ([`seal::dataset::DatasetWriter`] into a durable atomic write).
pub(crate) fn seal_mnist(
    mnist: &Path,
    n: usize,
    bundle: &KeyBundle,
    out: &Path,
) -> anyhow::Result<()> {
    let split = hostio::idx::load_split(mnist, "train")
        .with_context(|| format!("loading MNIST from {}", mnist.display()))?;
    let n = n.min(split.len()).max(1);
    let (rows, cols) = (split.images.rows as u32, split.images.cols as u32);
    let h = DatasetHeader::with_random_id(Split::Train, n as u64, rows, cols)?;
    let key = bundle.dataset.record_key();
    let what = out.display().to_string();
    write_atomic_with(
        out,
        AtomicOptions::public(true),
        |sink| -> anyhow::Result<()> {
            let mut w = DatasetWriter::new(&key, h, sink, &what)?;
            for i in 0..n {
                w.push(split.images.image(i), split.labels[i])?;
            }
            w.finish()?;
            Ok(())
        },
    )
    .with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(())
}
