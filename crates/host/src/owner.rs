//! The data owner's steps, run on the owner's machine:
//!
//! - `keygen`: a fresh key bundle (dataset key and model key) in a 0600 key file.
//! - `seal-dataset`: MNIST (gzip IDX) sealed record by record with the dataset key.
//! - `open-model`: a model exported by the enclave, opened with the model key
//!   into a Darknet `.weights` file.
//!
//! Provisioning the keys to an enclave is in [`crate::provision`].

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use hostio::fs::{tmp_path, write_secret_file};
use hostio::keyfile::{read_key_file, write_key_file};
use seal::dataset::{DatasetHeader, Split, seal_sample_into};
use seal::key::random_fill;
use seal::{KeyBundle, sealed_len};

use crate::error::{Context, HostError, Result, bail};
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

/// An IDX file (gzip) read whole: dimensions and data bytes.
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<u32>,
    /// The u8 data.
    pub data: Vec<u8>,
}

/// Reads a gzip-compressed IDX file of unsigned bytes (type 0x08).
pub fn read_idx_gz(path: &Path) -> Result<Idx> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut raw)
        .with_context(|| format!("{}: not a readable gzip file", path.display()))?;
    if raw.len() < 4 || raw[0] != 0 || raw[1] != 0 {
        bail!("{}: not an IDX file (bad magic)", path.display());
    }
    if raw[2] != 0x08 {
        bail!(
            "{}: IDX element type {:#04x}, expected unsigned byte (0x08)",
            path.display(),
            raw[2]
        );
    }
    let ndims = raw[3] as usize;
    if ndims == 0 || raw.len() < 4 + 4 * ndims {
        bail!("{}: truncated IDX header", path.display());
    }
    let dims: Vec<u32> = (0..ndims)
        .map(|i| u32::from_be_bytes(raw[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")))
        .collect();
    let n: usize = dims.iter().map(|&d| d as usize).product();
    let body = &raw[4 + 4 * ndims..];
    if body.len() != n {
        bail!(
            "{}: IDX dimensions {:?} need {n} bytes of data, file has {}",
            path.display(),
            dims,
            body.len()
        );
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
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
/// key, reporting [`Event::SealStart`], [`Event::Sealed`] and
/// [`Event::SealDone`].
pub fn seal_dataset(
    args: &SealDatasetOptions,
    progress: &mut dyn Progress,
) -> Result<SealedSummary> {
    let bundle = read_key_file(&args.key)?;
    let prefix = match args.split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = read_idx_gz(&args.mnist.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
    let labels = read_idx_gz(&args.mnist.join(format!("{prefix}-labels-idx1-ubyte.gz")))?;
    if images.dims.len() != 3 || labels.dims.len() != 1 || images.dims[0] != labels.dims[0] {
        bail!(
            "{}: image dims {:?} and label dims {:?} do not describe one set of samples",
            args.mnist.display(),
            images.dims,
            labels.dims
        );
    }
    if let Some(&bad) = labels.data.iter().find(|&&l| l > 9) {
        bail!("{}: label {bad} out of range 0..=9", args.mnist.display());
    }
    let total = images.dims[0] as u64;
    let count = args.limit.map_or(total, |l| l.min(total));
    if !args.force && args.out.exists() {
        bail!(
            "{}: already exists; pass --force to replace it",
            args.out.display()
        );
    }
    let mut dataset_id = [0u8; 16];
    random_fill(&mut dataset_id)?;
    let header = DatasetHeader {
        split: args.split,
        dataset_id,
        sample_count: count,
        rows: images.dims[1],
        cols: images.dims[2],
    };
    let key = bundle.dataset.record_key();
    let tmp = tmp_path(&args.out);
    let file = File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&header.encode(&key)?)
        .with_context(|| format!("{}: write failed", tmp.display()))?;
    let px = header.pixels();
    let mut scratch = vec![0u8; px + 1];
    let mut rec = vec![0u8; sealed_len(px + 1)];
    progress.event(Event::SealStart { samples: count });
    for i in 0..count as usize {
        let pixels = &images.data[i * px..(i + 1) * px];
        seal_sample_into(
            &key,
            &dataset_id,
            i as u64,
            pixels,
            labels.data[i],
            &mut scratch,
            &mut rec,
        )?;
        w.write_all(&rec)
            .with_context(|| format!("{}: write failed", tmp.display()))?;
        if i % 256 == 0 {
            progress.event(Event::Sealed(i as u64));
        }
    }
    progress.event(Event::SealDone);
    let file = w
        .into_inner()
        .map_err(|e| HostError::io(&tmp, "write failed")(e.into_error()))?;
    file.sync_all()
        .with_context(|| format!("{}: fsync failed", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("{}: cannot rename into place", args.out.display()))?;
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
