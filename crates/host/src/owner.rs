//! `plinius owner …`: the data owner's commands, run on the owner's machine.
//!
//! - `keygen`: a fresh key bundle (dataset key and model key) in a 0600 key file.
//! - `seal-dataset`: MNIST (gzip IDX) sealed record by record with the dataset key.
//! - `provision`: verifies an enclave's evidence, then seals the key bundle to
//!   the enclave's attested public key (HPKE), bound to the owner's nonce.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use hostio::fs::tmp_path;
use hostio::keyfile::{read_key_file, write_key_file};
use indicatif::{ProgressBar, ProgressStyle};
use seal::dataset::{DatasetHeader, Split, seal_sample_into};
use seal::key::random_fill;
use seal::{KeyBundle, sealed_len};

/// The data owner's commands.
#[derive(Subcommand, Debug)]
pub enum OwnerCommand {
    /// Generate a new owner key file (dataset key and model key), mode 0600.
    Keygen(KeygenArgs),
    /// Seal an MNIST split (gzip IDX files) into a sealed dataset file.
    SealDataset(SealDatasetArgs),
    /// Verify enclave evidence, then seal the key bundle to the enclave's key.
    Provision(crate::evidence::ProvisionArgs),
    /// Print a fresh random nonce (hex) to give an enclave.
    Nonce(crate::evidence::NonceArgs),
    /// Open a model exported by `plinius export` into a Darknet .weights file.
    OpenModel(crate::export::OpenModelArgs),
}

/// Arguments of `owner keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing key file (the old keys are lost).
    #[arg(long)]
    pub force: bool,
}

/// Which MNIST split to seal.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    /// train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (60 000 samples).
    Train,
    /// t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz (10 000 samples).
    Test,
}

/// Arguments of `owner seal-dataset`.
#[derive(Args, Debug)]
pub struct SealDatasetArgs {
    /// Directory with the MNIST gzip IDX files.
    #[arg(long)]
    pub mnist: PathBuf,
    /// The owner key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the sealed dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Which split to seal.
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitArg,
    /// Seal only the first N samples (tests, quick demos).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs an owner command.
pub fn run(cmd: OwnerCommand) -> Result<()> {
    match cmd {
        OwnerCommand::Keygen(a) => keygen(&a),
        OwnerCommand::SealDataset(a) => seal_dataset(&a).map(|_| ()),
        OwnerCommand::Provision(a) => crate::evidence::provision(&a),
        OwnerCommand::Nonce(a) => crate::evidence::nonce(&a),
        OwnerCommand::OpenModel(a) => crate::export::open_model(&a),
    }
}

/// `owner keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<()> {
    let bundle = KeyBundle::generate()?;
    write_key_file(&args.out, &bundle, args.force)?;
    println!(
        "wrote owner key file {} (mode 0600)\n  dataset key fingerprint {}\n  model key fingerprint   {}\nKeep it secret: it opens your sealed data and models.",
        args.out.display(),
        bundle.dataset.key().fingerprint(),
        bundle.model.key().fingerprint()
    );
    Ok(())
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
    /// The header of the written file.
    pub header: DatasetHeader,
}

/// `owner seal-dataset`.
pub fn seal_dataset(args: &SealDatasetArgs) -> Result<SealedSummary> {
    let bundle = read_key_file(&args.key)?;
    let prefix = match args.split {
        SplitArg::Train => "train",
        SplitArg::Test => "t10k",
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
        split: match args.split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        },
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
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(count)
    };
    bar.set_style(
        ProgressStyle::with_template("sealing {bar:40} {pos}/{len} samples {per_sec} eta {eta}")
            .expect("valid template"),
    );
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
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    let file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}: write failed: {}", tmp.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("{}: fsync failed", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("{}: cannot rename into place", args.out.display()))?;
    println!(
        "wrote {} ({} split): dataset id {}, {} samples of {}x{} pixels + label, {} bytes per record, {} bytes",
        args.out.display(),
        header.split,
        header.id_hex(),
        count,
        header.rows,
        header.cols,
        header.record_len(),
        header.file_len()
    );
    Ok(SealedSummary { header })
}
