//! The data owner's steps, run on the owner's machine:
//!
//! - `keygen`: a fresh key bundle (dataset key and model key) in a 0600 key file.
//! - `seal-dataset`: MNIST (gzip IDX, parsed by [`nn::idx`]) sealed record by
//!   record with the dataset key ([`seal::dataset::DatasetWriter`]).
//! - `open-model`: a model exported by the enclave, opened with the model key
//!   into a Darknet `.weights` file.
//!
//! Provisioning the keys to an enclave is in [`crate::provision`].

use std::path::{Path, PathBuf};

use hostio::fs::{AtomicOptions, tmp_path, write_atomic_with, write_secret_file};
use hostio::keyfile::{read_key_file, write_key_file};
use seal::KeyBundle;
use seal::dataset::{DatasetHeader, DatasetWriter, Split};

use crate::error::{Context, Result, bail};
use crate::progress::{Event, Progress};

/// The fingerprints of an owner's keys (safe to show).
#[derive(Debug, Clone)]
pub struct KeyFingerprints {
    /// The key file written.
    pub out: PathBuf,
    /// The dataset key's.
    pub dataset: String,
    /// The model key's.
    pub model: String,
}

/// `owner keygen`: writes a fresh key bundle to `out` (mode 0600), refusing
/// to replace an existing file unless `force`.
pub fn keygen(out: &Path, force: bool) -> Result<KeyFingerprints> {
    let bundle = KeyBundle::generate()?;
    write_key_file(out, &bundle, force)?;
    Ok(KeyFingerprints {
        out: out.to_path_buf(),
        dataset: bundle.dataset.key().fingerprint().clone(),
        model: bundle.model.key().fingerprint().clone(),
    })
}

/// What `owner seal-dataset` needs.
#[derive(Debug, Clone)]
pub struct SealDatasetOptions {
    /// Directory with the MNIST gzip IDX files.
    pub mnist: PathBuf,
    /// The owner key file.
    pub key: PathBuf,
    /// Where to write the sealed dataset.
    pub out: PathBuf,
    /// Which split to seal (`train-*` or `t10k-*` files).
    pub split: Split,
    /// Seal only the first N samples (tests, quick demos).
    pub limit: Option<u64>,
    /// Replace an existing output file.
    pub force: bool,
}

/// Reads one split of MNIST (`prefix` is `train` or `t10k`) from the gzip
/// IDX files in `dir`, parsed by [`nn::idx`].
fn read_mnist_split(dir: &Path, prefix: &str) -> Result<nn::idx::Split> {
    let read = |name: String| -> Result<(PathBuf, Vec<u8>)> {
        let path = dir.join(name);
        let stored =
            std::fs::read(&path).with_context(|| format!("{}: cannot open", path.display()))?;
        Ok((path, stored))
    };
    let (path, stored) = read(format!("{prefix}-images-idx3-ubyte.gz"))?;
    let images = nn::idx::parse_images_file(&path, stored)?;
    let (path, stored) = read(format!("{prefix}-labels-idx1-ubyte.gz"))?;
    let labels = nn::idx::parse_labels_file(&path, stored)?;
    Ok(nn::idx::Split::new(
        images,
        labels,
        &dir.display().to_string(),
    )?)
}

/// What `seal-dataset` wrote.
#[derive(Debug)]
pub struct SealedSummary {
    /// The file written.
    pub out: PathBuf,
    /// The header of the written file.
    pub header: DatasetHeader,
}

impl std::fmt::Display for KeyFingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote owner key file {} (mode 0600)\n  dataset key fingerprint {}\n  model key fingerprint   {}\nKeep it secret: it opens your sealed data and models.",
            self.out.display(),
            self.dataset,
            self.model
        )
    }
}

impl std::fmt::Display for SealedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = &self.header;
        write!(
            f,
            "wrote {} ({} split): dataset id {}, {} samples of {}x{} pixels + label, {} bytes per record, {} bytes",
            self.out.display(),
            h.split,
            h.id_hex(),
            h.sample_count,
            h.rows,
            h.cols,
            h.record_len(),
            h.file_len()
        )
    }
}

/// `owner seal-dataset`: seals a split of MNIST with the owner's dataset
/// key into a durable atomic write ([`hostio::fs::write_atomic_with`]),
/// reporting [`Event::SealStart`], [`Event::Sealed`] and [`Event::SealDone`].
pub fn seal_dataset(
    args: &SealDatasetOptions,
    progress: &mut dyn Progress,
) -> Result<SealedSummary> {
    let bundle = read_key_file(&args.key)?;
    let prefix = match args.split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let mnist = read_mnist_split(&args.mnist, prefix)?;
    if let Some(&bad) = mnist.labels.iter().find(|&&l| l > 9) {
        bail!("{}: label {bad} out of range 0..=9", args.mnist.display());
    }
    let total = mnist.len() as u64;
    let count = args.limit.map_or(total, |l| l.min(total));
    if !args.force && args.out.exists() {
        bail!(
            "{}: already exists; pass --force to replace it",
            args.out.display()
        );
    }
    let (rows, cols) = (mnist.images.rows as u32, mnist.images.cols as u32);
    let header = DatasetHeader::with_random_id(args.split, count, rows, cols)?;
    let key = bundle.dataset.record_key();
    let what = tmp_path(&args.out).display().to_string();
    let opts = AtomicOptions::public(args.force);
    write_atomic_with(&args.out, opts, |sink| -> Result<()> {
        let mut w = DatasetWriter::new(&key, header, sink, &what)?;
        progress.event(Event::SealStart { samples: count });
        for i in 0..count as usize {
            w.push(mnist.images.image(i), mnist.labels[i])?;
            if i % 256 == 0 {
                progress.event(Event::Sealed(i as u64));
            }
        }
        w.finish()?;
        progress.event(Event::SealDone);
        Ok(())
    })?;
    Ok(SealedSummary {
        out: args.out.clone(),
        header,
    })
}

/// What `owner open-model` needs.
#[derive(Debug, Clone)]
pub struct OpenModelOptions {
    /// The sealed model written by `plinius export`.
    pub model: PathBuf,
    /// Your owner key file.
    pub key: PathBuf,
    /// Where to write the Darknet .weights file.
    pub out: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
}

/// What `owner open-model` opened.
#[derive(Debug, Clone)]
pub struct OpenedModel {
    /// The sealed model opened.
    pub model: PathBuf,
    /// The Darknet .weights file written.
    pub out: PathBuf,
    /// The model's fingerprint, hex.
    pub fingerprint: String,
    /// The iteration it was exported at.
    pub iteration: u64,
    /// Images it has seen.
    pub seen: u64,
    /// Bytes of Darknet weights written.
    pub bytes: usize,
}

/// `owner open-model`: opens an exported model with the owner's model key
/// and writes its Darknet `.weights` (mode 0600: the plaintext model is the
/// owner's secret).
pub fn open_model(a: &OpenModelOptions) -> Result<OpenedModel> {
    let bundle = read_key_file(&a.key)?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("{}: cannot read", a.model.display()))?;
    let what = a.model.display().to_string();
    let m = enclave::open_exported(&bundle.model, &bytes, &what)?;
    // The plaintext model is the owner's secret: 0600, like the key file.
    write_secret_file(&a.out, &m.weights, a.force)?;
    Ok(OpenedModel {
        model: a.model.clone(),
        out: a.out.clone(),
        fingerprint: hex::encode(m.fingerprint),
        iteration: m.iteration,
        seen: m.seen,
        bytes: m.weights.len(),
    })
}

impl std::fmt::Display for OpenedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "opened {}: model {} at iteration {} ({} images seen)\nwrote Darknet weights {} ({} bytes, mode 0600)",
            self.model.display(),
            self.fingerprint,
            self.iteration,
            self.seen,
            self.out.display(),
            self.bytes
        )
    }
}
