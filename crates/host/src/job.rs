//! A training job on the host: the pool file (created or opened), the sealed
//! dataset imported into it, the keys handed to the enclave, the ssd
//! checkpoint file, and the attached [`Enclave`].
//!
//! A new pool is created under a temporary name and renamed into place once
//! formatted, so a crash during creation never leaves a half-made file under
//! the pool's name. A crash during the import leaves an IMPORTING dataset
//! area that the next start resumes; a crash before the enclave's first
//! mirror leaves a pool with no superblock, which the next start completes.
//! An existing pool is never re-created.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use enclave::layout::{self, MirrorMode, Region};
use enclave::{Attached, BoxError, CheckpointStore, Enclave, Keys, TrainConfig};
use hostio::keyfile::read_key_file;
use hostio::platform::SimPlatform;
use indicatif::{ProgressBar, ProgressStyle};
use ptm::{Pool, PoolOptions};
use seal::evidence::Policy;

use crate::ckpt::{CkptWriteStats, read_checkpoint, write_checkpoint};
use crate::import::{ImportOptions, ImportOutcome, check_dataset_file, import_file, import_status};
use crate::inspect::default_checkpoint;

/// The `ssd` mode's checkpoint file, as the enclave's [`CheckpointStore`].
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Timings of the last write.
    pub last: CkptWriteStats,
}

impl FileCheckpoint {
    /// A store writing `path`.
    pub fn new(path: PathBuf) -> Self {
        FileCheckpoint {
            path,
            last: CkptWriteStats::default(),
        }
    }
}

impl CheckpointStore for FileCheckpoint {
    fn load(&mut self) -> std::result::Result<Option<Vec<u8>>, BoxError> {
        if !self.path.exists() {
            return Err(format!(
                "checkpoint {}: no such file, but this ssd-mode pool's model is mirrored there: \
                 if it was moved, give its path with --checkpoint FILE (nothing was written)",
                self.path.display()
            )
            .into());
        }
        read_checkpoint(&self.path)
            .map(Some)
            .map_err(|e| format!("{e:#}").into())
    }

    fn store(&mut self, image: &[u8]) -> std::result::Result<(), BoxError> {
        self.last = write_checkpoint(&self.path, image)
            .map_err(|e| -> BoxError { format!("{e:#}").into() })?;
        Ok(())
    }
}

/// Where the enclave's keys come from at a job's first start.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Development shortcut: the owner's key file on the host; simulated
    /// evidence and provisioning run in-process.
    OwnerKey(PathBuf),
    /// The real flow: the bundle the owner sealed to this enclave's evidence,
    /// and the session state `plinius enclave evidence` wrote.
    Bundle {
        /// The sealed key bundle (`plinius owner provision --out`).
        bundle: PathBuf,
        /// The enclave session state (`plinius enclave evidence --state`).
        state: PathBuf,
    },
    /// None given: only a pool that already holds its sealed keys will do.
    Pool,
}

/// Paths and settings common to the job commands.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// The pool file.
    pub pool: PathBuf,
    /// The ssd checkpoint file (default `<pool>.ckpt`).
    pub checkpoint: Option<PathBuf>,
    /// The simulated platform directory.
    pub platform: Option<PathBuf>,
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
}

impl JobOptions {
    /// The checkpoint path of the job.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.checkpoint
            .clone()
            .unwrap_or_else(|| default_checkpoint(&self.pool))
    }

    fn threads(&self) -> Result<usize> {
        match self.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(t) => Ok(t),
            None => Ok(nn::default_threads()),
        }
    }
}

/// How a training job started.
#[derive(Debug, Clone)]
pub struct StartReport {
    /// The pool file was created by this start.
    pub pool_created: bool,
    /// What the dataset import did (`None`: the pool's dataset was complete
    /// and no file was given).
    pub import: Option<ImportOutcome>,
    /// What attaching did (created the mirror, or mirrored in).
    pub attached: Attached,
    /// Where the keys came from.
    pub keys_from: &'static str,
    /// A remark for the user (e.g. keys provisioned again).
    pub note: Option<String>,
}

/// An attached training job.
pub struct Job {
    /// The mapped pool.
    pub pool: Pool,
    /// The enclave, attached to the pool.
    pub enclave: Enclave,
    /// The pool path.
    pub pool_path: PathBuf,
    /// The ssd checkpoint path.
    pub checkpoint: PathBuf,
}

/// The sealed export of a model.
#[derive(Debug, Clone)]
pub struct SealedExport {
    /// The iteration of the exported model.
    pub iteration: u64,
    /// The sealed bytes.
    pub bytes: Vec<u8>,
}

/// Opens (creating on first use, with a note on stderr) the simulated platform.
pub fn platform(dir: Option<&Path>) -> Result<SimPlatform> {
    crate::evidence::sim_platform(dir)
}

/// Gets the enclave's keys from `source` (first start of a job).
pub fn provision_keys(source: &KeySource, platform: &SimPlatform) -> Result<(Keys, &'static str)> {
    match source {
        KeySource::OwnerKey(path) => {
            let bundle = read_key_file(path)?;
            let provider = platform.provider(enclave::measurement());
            let policy = Policy {
                allow_sim: true,
                sim_platform_key: Some(platform.public_key()),
                ..Policy::default()
            };
            let keys = Keys::dev_provision(&provider, &policy, &bundle, platform)
                .context("development provisioning with the owner key file")?;
            Ok((
                keys,
                "owner key file (development shortcut: simulated evidence and provisioning in-process)",
            ))
        }
        KeySource::Bundle { bundle, state } => {
            let b = std::fs::read(bundle)
                .with_context(|| format!("{}: cannot read the key bundle", bundle.display()))?;
            let s = std::fs::read(state).with_context(|| {
                format!("{}: cannot read the enclave session state", state.display())
            })?;
            let keys = Keys::accept(platform, &s, &b).with_context(|| {
                format!(
                    "{}: cannot accept the key bundle (was it provisioned for the evidence of session {}?)",
                    bundle.display(),
                    state.display()
                )
            })?;
            Ok((keys, "provisioned key bundle"))
        }
        KeySource::Pool => bail!(
            "the pool holds no keys yet: give --key owner.key (development) or --bundle FILE --state FILE \
             (provisioned) for the job's first start"
        ),
    }
}

fn io_err(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> anyhow::Error {
    let p = path.display().to_string();
    let w = what.to_string();
    move |e| anyhow::anyhow!("{p}: {w}: {e}")
}

/// Creates the pool file at `path` with `size`: formatted under a temporary
/// name, then renamed into place (and the directory synced), then opened.
fn create_pool(path: &Path, size: ptm::PoolSize, opts: &PoolOptions) -> Result<Pool> {
    crate::ckpt::check_out_dir(path, "cannot create the pool")?;
    let tmp = crate::ckpt::tmp_path(path);
    // A leftover from a crash during an earlier creation holds nothing.
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(io_err(&tmp, "cannot remove stale temporary pool"))?;
    }
    let pool = Pool::create(
        &tmp,
        size,
        &PoolOptions {
            overwrite: false,
            ..opts.clone()
        },
    )?;
    drop(pool);
    if path.exists() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "{}: appeared while the pool was being created; not replacing it",
            path.display()
        );
    }
    std::fs::rename(&tmp, path).map_err(io_err(path, "cannot rename the new pool into place"))?;
    hostio::fs::sync_parent_dir(path).map_err(io_err(
        hostio::fs::parent_dir(path),
        "fsync of the directory failed",
    ))?;
    Ok(Pool::open(path, opts)?)
}

/// Before a job's first start writes anything: the enclave's keys must open
/// the sealed dataset's header (and it must be a training split for the
/// model), else the pool would hold keys that cannot train on its data.
fn check_dataset_keys(e: &Enclave, data: &Path, pool: &Path) -> Result<()> {
    use std::io::Read;
    let mut header = [0u8; seal::dataset::HEADER_LEN];
    std::fs::File::open(data)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(io_err(data, "cannot read the dataset header"))?;
    e.check_dataset_header(&header).with_context(|| {
        format!(
            "{}: refused before anything was written to {}",
            data.display(),
            pool.display()
        )
    })
}

fn import_bar(quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("importing {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    bar
}

/// What `Job::start` needs.
#[derive(Debug, Clone)]
pub struct StartArgs<'a> {
    /// Paths and threads.
    pub opts: &'a JobOptions,
    /// The model cfg file.
    pub cfg: &'a Path,
    /// The owner's sealed dataset file (needed until imported).
    pub data: Option<&'a Path>,
    /// Keys for the first start.
    pub keys: &'a KeySource,
    /// Seed (first start only; a resumed job keeps the pool's).
    pub seed: u64,
    /// Mirror mode: must match an existing pool's (`None`: the pool's, or
    /// `romulus` for a new pool).
    pub mirror: Option<MirrorMode>,
    /// Mirror every K iterations.
    pub mirror_every: u64,
    /// Hide progress bars.
    pub quiet: bool,
}

impl Job {
    /// Starts (or resumes) the training job: creates the pool if needed,
    /// imports (or resumes importing) the dataset, provisions or unseals the
    /// keys, attaches the enclave (first mirror, or mirror-in).
    pub fn start(a: &StartArgs<'_>) -> Result<(Job, StartReport)> {
        let cfg_text = std::fs::read_to_string(a.cfg)
            .with_context(|| format!("{}: cannot read the model cfg", a.cfg.display()))?;
        let origin = a.cfg.display().to_string();
        let mut config = TrainConfig {
            threads: a.opts.threads()?,
            seed: a.seed,
            mirror: a.mirror.unwrap_or(MirrorMode::Romulus),
            mirror_every: a.mirror_every,
        };
        let platform = platform(a.opts.platform.as_deref())?;
        let path = &a.opts.pool;
        let popts = PoolOptions::default();
        let ckpt = a.opts.checkpoint_path();
        let mut pool_created = false;
        let mut note = None;
        // Why the pool's sealed keys did not unseal, when keys were given again.
        let mut unsealed: Option<String> = None;
        let (mut pool, mut e, keys_from, area) = if path.exists() {
            let pool = Pool::open(path, &popts)?;
            match layout::read_superblock(&pool)? {
                Some(sb) => {
                    // No mode given: the pool's (a different one given is
                    // refused at attach, the pool untouched).
                    if a.mirror.is_none() {
                        config.mirror = sb.mode;
                    }
                    let (keys, from) = match Keys::from_pool(&pool, &platform) {
                        Ok(k) => (k, "pool (sealed to this platform and enclave)"),
                        // Sealed to another enclave build or platform: keys
                        // given again are used if they are the pool's (the
                        // enclave checks they open the pool's sealed cfg).
                        Err(err) if !matches!(a.keys, KeySource::Pool) => {
                            let (k, from) = provision_keys(a.keys, &platform)?;
                            note = Some(format!(
                                "the keys sealed in the pool do not open here ({err}); using the {from}"
                            ));
                            unsealed = Some(err.to_string());
                            (k, from)
                        }
                        Err(err) => {
                            return Err(anyhow::Error::new(err).context(format!(
                                "{}: cannot unseal the job's keys; if this build's enclave or the platform \
                                 changed, provision them again (--key, or --bundle and --state)",
                                path.display()
                            )));
                        }
                    };
                    let e = Enclave::new(keys, &cfg_text, &origin, config)?;
                    (pool, e, from, sb.dataset_area)
                }
                None => {
                    // Created, but the first start did not finish.
                    let (keys, from) = provision_keys(a.keys, &platform)?;
                    let e = Enclave::new(keys, &cfg_text, &origin, config)?;
                    let data = a.data.ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: the job's first start did not finish (no mirror yet): give --data FILE to \
                             complete it",
                            path.display()
                        )
                    })?;
                    let h = check_dataset_file(data)?;
                    check_dataset_keys(&e, data, path)?;
                    let plan = e.plan(h.file_len() as u64);
                    if pool.main_len() < plan.main_len || pool.raw_len() != plan.raw_len {
                        bail!(
                            "{}: the pool's sizes (main {}, raw {}) are not the ones this cfg, mirror mode {} \
                             and dataset need (main {}, raw {}): it was made for another job (or give the \
                             --mirror it was created with)",
                            path.display(),
                            pool.main_len(),
                            pool.raw_len(),
                            config.mirror,
                            plan.main_len,
                            plan.raw_len
                        );
                    }
                    (pool, e, from, plan.dataset_area)
                }
            }
        } else {
            let data = a.data.ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no such pool; to start a new job give --data FILE (the owner's sealed dataset)",
                    path.display()
                )
            })?;
            let h = check_dataset_file(data)?;
            let (keys, from) = provision_keys(a.keys, &platform)?;
            let e = Enclave::new(keys, &cfg_text, &origin, config)?;
            check_dataset_keys(&e, data, path)?;
            let plan = e.plan(h.file_len() as u64);
            let pool = create_pool(path, plan.pool_size(), &popts)?;
            pool_created = true;
            (pool, e, from, plan.dataset_area)
        };
        // Import (or resume the import of) the dataset, or check it is complete.
        let import = match a.data {
            Some(d) => Some(import_file(
                &mut pool,
                area,
                d,
                ImportOptions::default(),
                &import_bar(a.quiet),
            )?),
            None => {
                let s = import_status(pool.raw(), area)?;
                if !matches!(s, crate::import::ImportStatus::Complete { .. }) {
                    bail!("{}: dataset import {s}; give --data FILE", path.display());
                }
                None
            }
        };
        if config.mirror == MirrorMode::Ssd {
            e.set_checkpoint_store(Box::new(FileCheckpoint::new(ckpt.clone())));
        }
        let attached = e.attach(&mut pool)?;
        // The keys given again opened the pool's sealed cfg at attach: they
        // are the pool's. Sealed again to this platform and enclave build,
        // the next restart needs none.
        if let Some(err) = unsealed
            && e.reseal_keys(&mut pool, &platform).with_context(|| {
                format!(
                    "{}: cannot re-seal the job's keys into the pool",
                    path.display()
                )
            })?
        {
            note = Some(format!(
                "the keys sealed in {} did not unseal here ({err}); re-sealed the {keys_from} \
                 into the pool for this platform and enclave build, so restarts need no keys again",
                path.display()
            ));
        }
        Ok((
            Job {
                pool,
                enclave: e,
                pool_path: path.clone(),
                checkpoint: ckpt,
            },
            StartReport {
                pool_created,
                import,
                attached,
                keys_from,
                note,
            },
        ))
    }

    /// Opens an existing job from its pool alone (sealed cfg, keys, mode and
    /// seed in the pool): for `eval` and `export`.
    pub fn resume_existing(opts: &JobOptions) -> Result<Job> {
        Self::resume_existing_with_key(opts, None)
    }

    /// [`Job::resume_existing`], with the owner's key file (development
    /// shortcut) used only if the keys sealed in the pool do not unseal here
    /// (another platform or enclave build). Nothing is written to the pool.
    pub fn resume_existing_with_key(opts: &JobOptions, key: Option<&Path>) -> Result<Job> {
        let path = &opts.pool;
        if !path.exists() {
            bail!("{}: no such pool", path.display());
        }
        let platform = platform(opts.platform.as_deref())?;
        let pool = Pool::open(path, &PoolOptions::default())?;
        let sb = layout::read_superblock(&pool)?.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: the pool holds no model yet (training never started)",
                path.display()
            )
        })?;
        let keys = match (Keys::from_pool(&pool, &platform), key) {
            (Ok(k), _) => k,
            (Err(_), Some(k)) => {
                provision_keys(&KeySource::OwnerKey(k.to_path_buf()), &platform)
                    .with_context(|| {
                        format!(
                            "{}: the keys sealed in the pool do not unseal here; the --key given",
                            path.display()
                        )
                    })?
                    .0
            }
            (Err(err), None) => {
                return Err(anyhow::Error::new(err).context(format!(
                    "{}: cannot unseal the job's keys (sealed to another platform or enclave build, \
                     or tampered with): run `plinius train --pool {} --cfg FILE` once with --key owner.key \
                     (or --bundle and --state) to re-seal them into the pool, or give --key owner.key \
                     (development)",
                    path.display(),
                    path.display()
                )));
            }
        };
        let ckpt = opts.checkpoint_path();
        let store: Option<Box<dyn CheckpointStore>> = (sb.mode == MirrorMode::Ssd)
            .then(|| Box::new(FileCheckpoint::new(ckpt.clone())) as Box<dyn CheckpointStore>);
        let (enclave, _attached) = Enclave::open(keys, &pool, store, opts.threads()?)?;
        Ok(Job {
            pool,
            enclave,
            pool_path: path.clone(),
            checkpoint: ckpt,
        })
    }

    /// The model sealed for its owner.
    pub fn export(&mut self) -> Result<SealedExport> {
        Ok(SealedExport {
            iteration: self.enclave.iteration(),
            bytes: self.enclave.export_sealed()?,
        })
    }

    /// The dataset area of the attached pool.
    pub fn dataset_area(&self) -> Option<Region> {
        self.enclave.superblock().map(|sb| sb.dataset_area)
    }
}
