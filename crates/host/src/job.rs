//! A training job on the host: the pool file (created or opened), the sealed
//! dataset imported into it, the keys handed to the enclave, the ssd
//! checkpoint file, and the attached [`Enclave`].
//!
//! A crash during the import leaves an IMPORTING dataset area that the next
//! start resumes; a crash before the enclave's first mirror leaves an
//! [`PoolState::Unfinished`] pool, which the next start completes.

use std::path::{Path, PathBuf};

use enclave::layout::{MirrorMode, Region, Superblock};
use enclave::{Attached, CheckpointStore, Enclave, Keys, TrainConfig};
use hostio::platform::SimPlatform;
use ptm::Pool;

use crate::ckpt::{FileCheckpoint, default_checkpoint};
use crate::error::{Context, HostError, Result, bail, in_pool};
use crate::import::{
    ImportOptions, ImportOutcome, ImportStatus, check_dataset_file, import_file, import_status,
};
use crate::keys::{KeySource, ProvisionedKeys, provision_keys};
use crate::platform::sim_platform;
use crate::pool::{PoolState, create_pool};
use crate::progress::Progress;

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

/// What [`Job::start`] needs.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Paths and threads.
    pub job: JobOptions,
    /// The model cfg file.
    pub cfg: PathBuf,
    /// The owner's sealed dataset file (needed until imported).
    pub data: Option<PathBuf>,
    /// Keys for the first start.
    pub keys: KeySource,
    /// Seed (first start only; a resumed job keeps the pool's).
    pub seed: u64,
    /// Mirror mode: must match an existing pool's (`None`: the pool's, or
    /// `romulus` for a new pool).
    pub mirror: Option<MirrorMode>,
    /// Mirror every K iterations.
    pub mirror_every: u64,
}

/// How a training job started.
#[derive(Debug, Clone)]
pub struct StartReport {
    /// The pool file.
    pub pool: PathBuf,
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
    /// Keys were given but not needed: the pool holds them, sealed to this
    /// platform.
    pub keys_unused: bool,
}

impl std::fmt::Display for StartReport {
    /// The status lines of the start, each ended by a line end.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(n) = &self.note {
            writeln!(f, "note: {n}")?;
        }
        if self.pool_created {
            writeln!(f, "created pool {}", self.pool.display())?;
        }
        match self.import {
            Some(ImportOutcome::Imported { bytes }) => {
                writeln!(f, "imported the sealed dataset ({bytes} bytes)")?;
            }
            Some(ImportOutcome::Resumed { from, total }) => writeln!(
                f,
                "resumed the interrupted dataset import at byte {from} of {total}"
            )?,
            _ => {}
        }
        let at = &self.attached;
        let ms = |ns: Option<u64>| ns.map_or(0.0, |ns| ns as f64 / 1e6);
        if at.created {
            writeln!(
                f,
                "started a new job: mirror mode {}, seed {}, keys from the {}; initial mirror {} bytes in {:.1} ms",
                at.mode,
                at.seed,
                self.keys_from,
                at.mirror_out.map_or(0, |m| m.bytes),
                ms(at.mirror_out.map(|m| m.total_ns))
            )?;
        } else {
            writeln!(
                f,
                "resumed from iteration {} (mirror mode {}, seed {}, mirror-in {:.1} ms; keys from the {})",
                at.iteration,
                at.mode,
                at.seed,
                ms(at.mirror_in.map(|m| m.total_ns)),
                self.keys_from
            )?;
        }
        if self.keys_unused {
            writeln!(
                f,
                "note: --key/--bundle not used: the pool holds the job's keys, sealed to this platform"
            )?;
        }
        Ok(())
    }
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

/// A started job and how it started.
pub struct Started {
    /// The attached job.
    pub job: Job,
    /// What the start did.
    pub report: StartReport,
}

/// The sealed export of a model.
#[derive(Debug, Clone)]
pub struct SealedExport {
    /// The iteration of the exported model.
    pub iteration: u64,
    /// The sealed bytes.
    pub bytes: Vec<u8>,
}

/// Before a job's first start writes anything: the enclave's keys must open
/// the sealed dataset's header (and it must be a training split for the
/// model), else the pool would hold keys that cannot train on its data.
fn check_dataset_keys(e: &Enclave, data: &Path, pool: &Path) -> Result<()> {
    use std::io::Read;
    let mut header = [0u8; seal::dataset::HEADER_LEN];
    std::fs::File::open(data)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(HostError::io(data, "cannot read the dataset header"))?;
    e.check_dataset_header(&header).with_context(|| {
        format!(
            "{}: refused before anything was written to {}",
            data.display(),
            pool.display()
        )
    })
}

/// A start's enclave, before the dataset import and the attach.
struct Prepared {
    pool: Pool,
    enclave: Enclave,
    keys_from: &'static str,
    area: Region,
    pool_created: bool,
    note: Option<String>,
    /// Why the pool's sealed keys did not unseal, when keys were given again.
    unsealed: Option<String>,
}

/// What every branch of a start shares.
struct Starting<'a> {
    o: &'a StartOptions,
    cfg_text: String,
    config: TrainConfig,
    platform: SimPlatform,
}

impl Starting<'_> {
    fn path(&self) -> &Path {
        &self.o.job.pool
    }

    fn enclave(&self, keys: Keys, config: TrainConfig) -> Result<Enclave> {
        let origin = self.o.cfg.display().to_string();
        Ok(Enclave::new(keys, &self.cfg_text, &origin, config)?)
    }

    fn data(&self, missing: &str) -> Result<&Path> {
        self.o
            .data
            .as_deref()
            .ok_or_else(|| HostError::file(self.path(), missing))
    }

    /// A pool holding a job: its keys unsealed (or given again).
    fn ready(&self, pool: Pool, sb: Superblock) -> Result<Prepared> {
        let mut config = self.config;
        // No mode given: the pool's (a different one given is refused at
        // attach, the pool untouched).
        if self.o.mirror.is_none() {
            config.mirror = sb.mode;
        }
        let (keys, from, note, unsealed) = match Keys::from_pool(&pool, &self.platform) {
            Ok(k) => (k, "pool (sealed to this platform and enclave)", None, None),
            // Sealed to another enclave build or platform: keys given again
            // are used if they are the pool's (the enclave checks they open
            // the pool's sealed cfg).
            Err(err) if !matches!(self.o.keys, KeySource::Pool) => {
                let p = provision_keys(&self.o.keys, &self.platform)?;
                let note = format!(
                    "the keys sealed in the pool do not open here ({err}); using the {}",
                    p.from
                );
                (p.keys, p.from, Some(note), Some(err.to_string()))
            }
            Err(err) => {
                return Err(HostError::Context {
                    what: format!(
                        "{}: cannot unseal the job's keys; if this build's enclave or the platform \
                         changed, provision them again (--key, or --bundle and --state)",
                        self.path().display()
                    ),
                    source: err.into(),
                });
            }
        };
        Ok(Prepared {
            enclave: self.enclave(keys, config)?,
            pool,
            keys_from: from,
            area: sb.dataset_area,
            pool_created: false,
            note,
            unsealed,
        })
    }

    /// A pool created by a first start that did not finish.
    fn unfinished(&self, pool: Pool) -> Result<Prepared> {
        let ProvisionedKeys { keys, from } = provision_keys(&self.o.keys, &self.platform)?;
        let e = self.enclave(keys, self.config)?;
        let data = self.data(
            "the job's first start did not finish (no mirror yet): give --data FILE to complete it",
        )?;
        let h = check_dataset_file(data)?;
        check_dataset_keys(&e, data, self.path())?;
        let plan = e.plan(h.file_len() as u64);
        if pool.main_len() < plan.main_len || pool.raw_len() != plan.raw_len {
            return Err(HostError::file(
                self.path(),
                format!(
                    "the pool's sizes (main {}, raw {}) are not the ones this cfg, mirror mode {} \
                     and dataset need (main {}, raw {}): it was made for another job (or give the \
                     --mirror it was created with)",
                    pool.main_len(),
                    pool.raw_len(),
                    self.config.mirror,
                    plan.main_len,
                    plan.raw_len
                ),
            ));
        }
        Ok(Prepared {
            pool,
            enclave: e,
            keys_from: from,
            area: plan.dataset_area,
            pool_created: false,
            note: None,
            unsealed: None,
        })
    }

    /// No pool yet: create it for this cfg, mirror mode and dataset.
    fn missing(&self) -> Result<Prepared> {
        let data = self.data(
            "no such pool; to start a new job give --data FILE (the owner's sealed dataset)",
        )?;
        let h = check_dataset_file(data)?;
        let ProvisionedKeys { keys, from } = provision_keys(&self.o.keys, &self.platform)?;
        let e = self.enclave(keys, self.config)?;
        check_dataset_keys(&e, data, self.path())?;
        let plan = e.plan(h.file_len() as u64);
        let pool = create_pool(self.path(), plan.pool_size())?;
        Ok(Prepared {
            pool,
            enclave: e,
            keys_from: from,
            area: plan.dataset_area,
            pool_created: true,
            note: None,
            unsealed: None,
        })
    }
}

impl Job {
    /// Starts (or resumes) the training job: creates the pool if needed,
    /// imports (or resumes importing) the dataset, provisions or unseals the
    /// keys, attaches the enclave (first mirror, or mirror-in).
    pub fn start(o: &StartOptions, progress: &mut dyn Progress) -> Result<Started> {
        let cfg_text = std::fs::read_to_string(&o.cfg)
            .with_context(|| format!("{}: cannot read the model cfg", o.cfg.display()))?;
        let config = TrainConfig {
            threads: o.job.threads()?,
            seed: o.seed,
            mirror: o.mirror.unwrap_or(MirrorMode::Romulus),
            mirror_every: o.mirror_every,
        };
        let platform = sim_platform(o.job.platform.as_deref(), progress)?;
        let starting = Starting {
            o,
            cfg_text,
            config,
            platform,
        };
        let path = &o.job.pool;
        let mut p = match PoolState::of(path)? {
            PoolState::Ready(pool, sb) => starting.ready(pool, sb)?,
            PoolState::Unfinished(pool) => starting.unfinished(pool)?,
            PoolState::Missing => starting.missing()?,
        };
        let import = import_or_check(&mut p, o, progress)?;
        let ckpt = o.job.checkpoint_path();
        if p.enclave.config().mirror == MirrorMode::Ssd {
            p.enclave
                .set_checkpoint_store(Box::new(FileCheckpoint::new(ckpt.clone())));
        }
        let attached = p.enclave.attach(&mut p.pool).map_err(in_pool(path))?;
        let note = reseal_if_needed(&mut p, o, &starting.platform).map_err(in_pool(path))?;
        Ok(Started {
            job: Job {
                pool: p.pool,
                enclave: p.enclave,
                pool_path: path.clone(),
                checkpoint: ckpt,
            },
            report: StartReport {
                pool: path.clone(),
                pool_created: p.pool_created,
                import,
                keys_unused: !attached.created
                    && note.is_none()
                    && !matches!(o.keys, KeySource::Pool),
                attached,
                keys_from: p.keys_from,
                note,
            },
        })
    }

    /// Opens an existing job from its pool alone (sealed cfg, keys, mode and
    /// seed in the pool): for `eval` and `export`.
    pub fn resume_existing(opts: &JobOptions) -> Result<Job> {
        Self::resume_existing_with_key(opts, None, &mut crate::progress::NoProgress)
    }

    /// [`Job::resume_existing`], with the owner's key file (development
    /// shortcut) used only if the keys sealed in the pool do not unseal here
    /// (another platform or enclave build). Nothing is written to the pool.
    pub fn resume_existing_with_key(
        opts: &JobOptions,
        key: Option<&Path>,
        progress: &mut dyn Progress,
    ) -> Result<Job> {
        let path = &opts.pool;
        let (pool, sb) = match PoolState::of(path)? {
            PoolState::Missing => return Err(HostError::file(path, "no such pool")),
            PoolState::Unfinished(_) => {
                return Err(HostError::file(
                    path,
                    "the pool holds no model yet (training never started)",
                ));
            }
            PoolState::Ready(pool, sb) => (pool, sb),
        };
        let platform = sim_platform(opts.platform.as_deref(), progress)?;
        let keys = pool_keys(&pool, &platform, path, key)?;
        let ckpt = opts.checkpoint_path();
        let store: Option<Box<dyn CheckpointStore>> = (sb.mode == MirrorMode::Ssd)
            .then(|| Box::new(FileCheckpoint::new(ckpt.clone())) as Box<dyn CheckpointStore>);
        let (enclave, _attached) =
            Enclave::open(keys, &pool, store, opts.threads()?).map_err(in_pool(path))?;
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

/// Imports (or resumes the import of) the dataset file given, or checks
/// the pool's dataset is complete when none is.
fn import_or_check(
    p: &mut Prepared,
    o: &StartOptions,
    progress: &mut dyn Progress,
) -> Result<Option<ImportOutcome>> {
    match &o.data {
        Some(d) => Ok(Some(import_file(
            &mut p.pool,
            p.area,
            d,
            ImportOptions::default(),
            progress,
        )?)),
        None => {
            let s = import_status(p.pool.raw(), p.area).map_err(in_pool(&o.job.pool))?;
            if !matches!(s, ImportStatus::Complete { .. }) {
                return Err(HostError::file(
                    &o.job.pool,
                    format!("dataset import {s}; give --data FILE"),
                ));
            }
            Ok(None)
        }
    }
}

/// The keys given again opened the pool's sealed cfg at attach: they are
/// the pool's. Sealed again to this platform and enclave build, the next
/// restart needs none. Returns the start's note.
fn reseal_if_needed(
    p: &mut Prepared,
    o: &StartOptions,
    platform: &SimPlatform,
) -> Result<Option<String>> {
    let Some(err) = p.unsealed.take() else {
        return Ok(p.note.take());
    };
    let path = &o.job.pool;
    let resealed = p
        .enclave
        .reseal_keys(&mut p.pool, platform)
        .with_context(|| {
            format!(
                "{}: cannot re-seal the job's keys into the pool",
                path.display()
            )
        })?;
    if resealed {
        return Ok(Some(format!(
            "the keys sealed in {} did not unseal here ({err}); re-sealed the {} \
             into the pool for this platform and enclave build, so restarts need no keys again",
            path.display(),
            p.keys_from
        )));
    }
    Ok(p.note.take())
}

/// The keys of a ready pool: unsealed from it, else (development shortcut)
/// provisioned from the owner's key file `key`.
fn pool_keys(pool: &Pool, platform: &SimPlatform, path: &Path, key: Option<&Path>) -> Result<Keys> {
    match (Keys::from_pool(pool, platform), key) {
        (Ok(k), _) => Ok(k),
        (Err(_), Some(k)) => Ok(
            provision_keys(&KeySource::OwnerKey(k.to_path_buf()), platform)
                .with_context(|| {
                    format!(
                        "{}: the keys sealed in the pool do not unseal here; the --key given",
                        path.display()
                    )
                })?
                .keys,
        ),
        (Err(err), None) => Err(HostError::Context {
            what: format!(
                "{}: cannot unseal the job's keys (sealed to another platform or enclave build, \
                 or tampered with): run `plinius train --pool {} --cfg FILE` once with --key owner.key \
                 (or --bundle and --state) to re-seal them into the pool, or give --key owner.key \
                 (development)",
                path.display(),
                path.display()
            ),
            source: err.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use seal::dataset::{DatasetHeader, Split, seal_sample_into};
    use seal::{KeyBundle, sealed_len};

    const CFG: &str = "[net]\nbatch=4\nheight=8\nwidth=8\nchannels=1\nlearning_rate=0.01\n\
                       max_batches=2\n\n[connected]\noutput=10\nactivation=linear\n\n[softmax]\n";

    /// A sealed training set of 16 8x8 images for `bundle`'s dataset key.
    fn sealed_dataset(bundle: &KeyBundle, path: &Path) {
        let key = bundle.dataset.record_key();
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [9; 16],
            sample_count: 16,
            rows: 8,
            cols: 8,
        };
        let mut bytes = header.encode(&key).unwrap().to_vec();
        let (mut scratch, mut rec) = (vec![0u8; 65], vec![0u8; sealed_len(65)]);
        for i in 0..16u64 {
            let px: Vec<u8> = (0..64).map(|p| (p * 3 + i) as u8).collect();
            let label = (i % 10) as u8;
            seal_sample_into(
                &key,
                &header.dataset_id,
                i,
                &px,
                label,
                &mut scratch,
                &mut rec,
            )
            .unwrap();
            bytes.extend_from_slice(&rec);
        }
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_first_start_makes_a_ready_pool_that_resumes_without_keys() {
        let _g = crate::fork_guard();
        let dir = tempfile::tempdir().unwrap();
        let d = |n: &str| dir.path().join(n);
        std::fs::write(d("m.cfg"), CFG).unwrap();
        let bundle = KeyBundle::generate().unwrap();
        hostio::keyfile::write_key_file(&d("owner.key"), &bundle, false).unwrap();
        sealed_dataset(&bundle, &d("train.sealed"));
        let mut o = StartOptions {
            job: JobOptions {
                pool: d("job.pool"),
                checkpoint: None,
                platform: Some(d("platform")),
                threads: Some(1),
            },
            cfg: d("m.cfg"),
            data: None,
            keys: KeySource::OwnerKey(d("owner.key")),
            seed: 1,
            mirror: None,
            mirror_every: 1,
        };
        // Missing, and no dataset given: refused, nothing created.
        let e = crate::error::chain(&Job::start(&o, &mut NoProgress).err().unwrap());
        assert!(e.contains("no such pool"), "{e}");
        assert!(matches!(
            PoolState::of(&o.job.pool).unwrap(),
            PoolState::Missing
        ));
        // The first start creates, imports and attaches: a ready pool.
        o.data = Some(d("train.sealed"));
        let started = Job::start(&o, &mut NoProgress).unwrap();
        assert!(started.report.pool_created && started.report.attached.created);
        drop(started);
        match PoolState::of(&o.job.pool).unwrap() {
            PoolState::Ready(_, sb) => assert_eq!(sb.mode, MirrorMode::Romulus),
            s => panic!("expected a ready pool, got {s:?}"),
        }
        // A restart needs neither keys nor dataset, and notes nothing.
        o.data = None;
        o.keys = KeySource::Pool;
        let again = Job::start(&o, &mut NoProgress).unwrap().report;
        assert!(!again.pool_created && !again.attached.created && !again.keys_unused);
        assert!(again.import.is_none());
    }
}
