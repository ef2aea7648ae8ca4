//! `plinius export` (the host asks the enclave for the model sealed for its
//! owner) and `plinius owner open-model` (the owner opens it into a Darknet
//! `.weights` file with the model key).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use hostio::fs::{write_public_file, write_secret_file};
use hostio::keyfile::read_key_file;

use crate::job::{Job, JobOptions};

/// Arguments of `plinius export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The training job's pool file.
    #[arg(long)]
    pub pool: PathBuf,
    /// Where to write the sealed model (only the owner's model key opens it).
    #[arg(long)]
    pub out: PathBuf,
    /// The ssd mode's checkpoint file (default: `<pool>.ckpt`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Simulated platform directory.
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Development shortcut: the owner's key file, used only if the keys
    /// sealed in the pool do not unseal here (another platform or enclave build).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// `plinius export`: mirror-in inside the enclave, then the model as Darknet
/// `.weights` sealed with the owner's export key.
pub fn run_export(a: ExportArgs) -> Result<()> {
    if !a.force && a.out.exists() {
        bail!(
            "{}: already exists; pass --force to replace it",
            a.out.display()
        );
    }
    let opts = JobOptions {
        pool: a.pool.clone(),
        checkpoint: a.checkpoint.clone(),
        platform: a.platform.clone(),
        ..JobOptions::default()
    };
    let mut job = Job::resume_existing_with_key(&opts, a.key.as_deref())?;
    let sealed = job.export()?;
    write_public_file(&a.out, &sealed.bytes, a.force)?;
    println!(
        "exported the model of {} at iteration {} ({} bytes, sealed for the owner's model key): {}",
        a.pool.display(),
        sealed.iteration,
        sealed.bytes.len(),
        a.out.display()
    );
    Ok(())
}

/// Arguments of `plinius owner open-model`.
#[derive(Args, Debug, Clone)]
pub struct OpenModelArgs {
    /// The sealed model written by `plinius export`.
    #[arg(long)]
    pub model: PathBuf,
    /// Your owner key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the Darknet .weights file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `plinius owner open-model`: opens an exported model with the owner's model
/// key and writes its Darknet `.weights`.
pub fn open_model(a: &OpenModelArgs) -> Result<()> {
    let bundle = read_key_file(&a.key)?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("{}: cannot read", a.model.display()))?;
    let what = a.model.display().to_string();
    let m = enclave::open_exported(&bundle.model, &bytes, &what)?;
    // The plaintext model is the owner's secret: 0600, like the key file.
    write_secret_file(&a.out, &m.weights, a.force)?;
    println!(
        "opened {}: model {} at iteration {} ({} images seen)\nwrote Darknet weights {} ({} bytes, mode 0600)",
        a.model.display(),
        hex::encode(m.fingerprint),
        m.iteration,
        m.seen,
        a.out.display(),
        m.weights.len()
    );
    Ok(())
}
