//! [`Enclave`]: the trusted core's state (keys, model, optimizer, RNGs, data
//! cursor) and its operations on a pool: attach (create the superblock and the
//! first mirror, or mirror-in), train with mirroring, evaluate, export.

use crate::error::{EnclaveError, Result};
use crate::image::{self, ImageLayout, Meta, SamplerMeta};
use crate::keys::Keys;
use crate::layout::{
    self, AB_SELECTOR_LEN, DIRECTORY_LEN, MirrorDirectory, MirrorMode, PAGE, PoolPlan, Region,
    SUPERBLOCK_LEN, SUPERBLOCK_ROOT, Superblock,
};
use crate::stats::{IterationReport, MirrorInStats, MirrorOutStats, TrainSummary};
use nn::{BatchSampler, Network};
use ptm::{PmBackend, Pool, PtmError, Tx};
use seal::dataset::{SealedDataset, Split};
use seal::stream::NtSealer;
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;
use std::time::Instant;

/// An error from the host's side of a seam (its checkpoint store).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The host's checkpoint file for the `ssd` mirror mode. The enclave does no
/// file I/O: it hands the sealed image to [`CheckpointStore::store`] and takes
/// the bytes [`CheckpointStore::load`] read.
pub trait CheckpointStore: Send {
    /// The current checkpoint's image, or `None` if there is none.
    fn load(&mut self) -> std::result::Result<Option<Vec<u8>>, BoxError>;
    /// Durably replaces the checkpoint with `image` (write a temporary file,
    /// fsync it, rename it over the checkpoint, fsync the directory).
    fn store(&mut self, image: &[u8]) -> std::result::Result<(), BoxError>;
}

/// Run settings of a training job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainConfig {
    /// Worker threads of the training engine (results do not depend on it).
    pub threads: usize,
    /// Seed of the initial weights, the dropout RNG and the batch sampler
    /// (used when the pool is created; a resumed run uses the pool's).
    pub seed: u64,
    /// How the model is mirrored.
    pub mirror: MirrorMode,
    /// Mirror-out every this many iterations (>= 1), and at the end of every
    /// `train` call.
    pub mirror_every: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            threads: nn::default_threads(),
            seed: 1,
            mirror: MirrorMode::Romulus,
            mirror_every: 1,
        }
    }
}

/// What attaching to a pool did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attached {
    /// A new superblock and a first mirror (iteration 0) were written.
    pub created: bool,
    /// The iteration the enclave now holds (the mirror's, when resumed).
    pub iteration: u64,
    /// Images seen at that iteration.
    pub seen: u64,
    /// The pool's mirror mode.
    pub mode: MirrorMode,
    /// The run's seed (the pool's, when resumed).
    pub seed: u64,
    /// The mirror-in, when resumed.
    pub mirror_in: Option<MirrorInStats>,
    /// The first mirror-out, when created.
    pub mirror_out: Option<MirrorOutStats>,
}

struct Session {
    sb: Superblock,
    pool: String,
    ab_active: u64,
    dataset_checked: Option<[u8; 16]>,
}

struct Sampler {
    rng: BatchSampler,
    dataset_id: [u8; 16],
    count: u64,
}

/// The trusted core. Holds the keys, the network (weights, optimizer state,
/// dropout RNG), the batch sampler and the loss; the host hands it a pool (and
/// in `ssd` mode a [`CheckpointStore`]). Nothing it hands out is in clear.
pub struct Enclave {
    keys: Keys,
    cfg_text: String,
    origin: String,
    config: TrainConfig,
    seed: u64,
    net: Network,
    fingerprint: [u8; 32],
    layout: ImageLayout,
    sampler: Option<Sampler>,
    loss: f32,
    avg_loss: f32,
    store: Option<Box<dyn CheckpointStore>>,
    session: Option<Session>,
    ssd_buf: Vec<u8>,
    nt: [NtSealer; 2],
    pub(crate) streaming: bool,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    indices: Vec<usize>,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("model", &self.origin)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .field("iteration", &self.net.iteration())
            .field("mode", &self.config.mirror)
            .field("attached", &self.session.as_ref().map(|s| &s.pool))
            .finish()
    }
}

const CFG_AAD_DOMAIN: &[u8] = b"plinius/sealed-cfg/v1\0";

fn cfg_aad(fingerprint: &[u8; 32]) -> Vec<u8> {
    [CFG_AAD_DOMAIN, &fingerprint[..]].concat()
}

fn pool_name<B: PmBackend>(pool: &Pool<B>) -> String {
    pool.backend().name().display().to_string()
}

fn build_net(text: &str, origin: &str, seed: u64, threads: usize) -> Result<Network> {
    let mut net = Network::from_cfg_seeded(text, origin, seed)?;
    net.set_threads(threads.max(1))?;
    Ok(net)
}

fn ns(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

fn checkpoint_error(e: BoxError) -> EnclaveError {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    EnclaveError::Checkpoint(msg)
}

fn out_of_space_hint(e: EnclaveError) -> EnclaveError {
    match e {
        EnclaveError::Pool(p @ PtmError::OutOfSpace { .. }) => EnclaveError::Usage(format!(
            "{p}: the pool is too small for this model; create it with the sizes of \
             Enclave::plan (nothing was written)"
        )),
        other => other,
    }
}

/// Allocates and writes the superblock, the sealed cfg and the sealed keys
/// in `tx`, then points root slot 0 at the superblock (the commit point of a
/// pool's creation).
fn write_superblock(tx: &mut Tx<'_>, sb: &mut Superblock, cfg: &[u8], keys: &[u8]) -> Result<()> {
    let sb_off = tx.alloc(SUPERBLOCK_LEN as u64)?;
    let cfg_off = tx.alloc(cfg.len() as u64)?;
    let keys_off = tx.alloc(keys.len() as u64)?;
    tx.bytes_mut(cfg_off, cfg.len())?.copy_from_slice(cfg);
    tx.bytes_mut(keys_off, keys.len())?.copy_from_slice(keys);
    sb.sealed_cfg = Region {
        off: cfg_off,
        len: cfg.len() as u64,
    };
    sb.sealed_keys = Region {
        off: keys_off,
        len: keys.len() as u64,
    };
    tx.bytes_mut(sb_off, SUPERBLOCK_LEN)?
        .copy_from_slice(&sb.encode());
    tx.set_root(SUPERBLOCK_ROOT, sb_off)?;
    Ok(())
}

impl Enclave {
    /// Builds the enclave for the model `cfg_text` (`cfg_origin` names it in
    /// errors) with the provisioned `keys`. Nothing is attached yet.
    pub fn new(
        keys: Keys,
        cfg_text: &str,
        cfg_origin: &str,
        config: TrainConfig,
    ) -> Result<Enclave> {
        if config.mirror_every == 0 {
            return Err(EnclaveError::Usage(
                "mirror-every must be at least 1".into(),
            ));
        }
        let net = build_net(cfg_text, cfg_origin, config.seed, config.threads)?;
        let layout = ImageLayout::of(&net);
        Ok(Enclave {
            fingerprint: net.fingerprint(),
            keys,
            cfg_text: cfg_text.to_string(),
            origin: cfg_origin.to_string(),
            seed: config.seed,
            config,
            net,
            layout,
            sampler: None,
            loss: 0.0,
            avg_loss: -1.0,
            store: None,
            session: None,
            ssd_buf: Vec::new(),
            nt: [NtSealer::new(), NtSealer::new()],
            streaming: true,
            pixels: Vec::new(),
            labels: Vec::new(),
            indices: Vec::new(),
        })
    }

    /// Builds the enclave from what an existing pool holds (its sealed cfg,
    /// mode and seed) and mirrors in: for `eval` and `export`, which need only
    /// the pool. `store` is the checkpoint of an `ssd`-mode pool.
    pub fn open<B: PmBackend>(
        keys: Keys,
        pool: &Pool<B>,
        store: Option<Box<dyn CheckpointStore>>,
        threads: usize,
    ) -> Result<(Enclave, Attached)> {
        let sb = layout::read_superblock(pool)?.ok_or_else(|| {
            EnclaveError::Usage(format!(
                "{}: the pool has no Plinius superblock yet (nothing trained)",
                pool_name(pool)
            ))
        })?;
        let text = Self::open_cfg(&keys, pool, &sb)?;
        let config = TrainConfig {
            threads,
            seed: sb.seed,
            mirror: sb.mode,
            mirror_every: 1,
        };
        let mut e = Enclave::new(keys, &text, "the cfg sealed in the pool", config)?;
        e.store = store;
        let a = e.attach_existing(pool, sb)?;
        Ok((e, a))
    }

    /// Gives the enclave the host's checkpoint store (required in `ssd` mode).
    pub fn set_checkpoint_store(&mut self, store: Box<dyn CheckpointStore>) {
        self.store = Some(store);
    }

    /// Bytes of one sealed mirror image of this model.
    pub fn image_len(&self) -> u64 {
        self.layout.len as u64
    }

    /// The records of this model's mirror image (names and places; public).
    pub fn image_layout(&self) -> &ImageLayout {
        &self.layout
    }

    /// Sizes of a new pool for this model, its mode and a sealed dataset file
    /// of `dataset_file_len` bytes.
    pub fn plan(&self, dataset_file_len: u64) -> PoolPlan {
        layout::plan(
            self.config.mirror,
            self.image_len(),
            dataset_file_len,
            self.cfg_text.len(),
        )
    }

    fn open_cfg<B: PmBackend>(keys: &Keys, pool: &Pool<B>, sb: &Superblock) -> Result<String> {
        let sealed = pool.read(|v| {
            v.bytes(sb.sealed_cfg.off, sb.sealed_cfg.len as usize)
                .map(<[u8]>::to_vec)
        })?;
        let plain = seal::open_chunked_to_vec(&keys.mirror, &cfg_aad(&sb.fingerprint), &sealed)
            .map_err(|e| {
                EnclaveError::Seal(e.for_record(format!(
                    "{}: the model cfg sealed in the pool (these keys are not the pool's: wrong \
                     bundle or owner key; or the pool was tampered with)",
                    pool_name(pool)
                )))
            })?;
        String::from_utf8(plain).map_err(|_| {
            EnclaveError::layout(format!("{}: sealed cfg", pool_name(pool)), "not UTF-8 text")
        })
    }

    /// Attaches to `pool`: if it has a superblock, checks the model
    /// fingerprint and mirror mode (a mismatch is an error and the pool is
    /// not modified), checks the keys open its sealed cfg, and mirrors in;
    /// otherwise writes the superblock, the sealed cfg, the platform-sealed
    /// keys and a first mirror (iteration 0), atomically.
    pub fn attach<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<Attached> {
        if self.session.is_some() {
            return Err(EnclaveError::Usage(
                "the enclave is already attached to a pool".into(),
            ));
        }
        match layout::read_superblock(pool)? {
            Some(sb) => self.attach_existing(pool, sb),
            None => self.create(pool).map_err(out_of_space_hint),
        }
    }

    fn attach_existing<B: PmBackend>(
        &mut self,
        pool: &Pool<B>,
        sb: Superblock,
    ) -> Result<Attached> {
        let name = pool_name(pool);
        if sb.fingerprint != self.fingerprint {
            return Err(EnclaveError::FingerprintMismatch {
                pool: name,
                found: sb.fingerprint_hex(),
                expected: hex::encode(self.fingerprint),
                origin: self.origin.clone(),
            });
        }
        if sb.mode != self.config.mirror {
            return Err(EnclaveError::ModeMismatch {
                pool: name,
                found: sb.mode,
                requested: self.config.mirror,
            });
        }
        if sb.image_len != self.layout.len as u64 {
            return Err(EnclaveError::layout(
                format!("{name}: pool superblock"),
                format!(
                    "mirror images of {} bytes, this model's are {}",
                    sb.image_len, self.layout.len
                ),
            ));
        }
        Self::open_cfg(&self.keys, pool, &sb)?;
        if sb.seed != self.seed {
            self.seed = sb.seed;
            self.reset_model()?;
        }
        self.session = Some(Session {
            sb,
            pool: name,
            ab_active: 0,
            dataset_checked: None,
        });
        let stats = self.mirror_in(pool)?;
        Ok(Attached {
            created: false,
            iteration: stats.iteration,
            seen: self.net.seen(),
            mode: sb.mode,
            seed: self.seed,
            mirror_in: Some(stats),
            mirror_out: None,
        })
    }

    fn create<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<Attached> {
        let mode = self.config.mirror;
        let name = pool_name(pool);
        let image_len = self.layout.len as u64;
        let raw_len = pool.raw_len();
        let (ab_area, ab_slot_len) = if mode == MirrorMode::Ab {
            let slot = image_len.div_ceil(PAGE) * PAGE;
            let len = AB_SELECTOR_LEN + 2 * slot;
            if raw_len < len {
                return Err(EnclaveError::Usage(format!(
                    "{name}: the raw region has {raw_len} bytes, ab mode needs {len} for two \
                     slots of {slot}; create the pool with the sizes of Enclave::plan (nothing \
                     was written)"
                )));
            }
            (
                Region {
                    off: raw_len - len,
                    len,
                },
                slot,
            )
        } else {
            (
                Region {
                    off: raw_len,
                    len: 0,
                },
                0,
            )
        };
        let mut sb = Superblock {
            version: layout::LAYOUT_VERSION,
            mode,
            fingerprint: self.fingerprint,
            seed: self.seed,
            image_len,
            sealed_cfg: Region::default(),
            sealed_keys: Region::default(),
            dataset_area: Region {
                off: 0,
                len: ab_area.off,
            },
            ab_area,
            ab_slot_len,
            directory: 0,
        };
        let cfg = seal::seal_chunked_to_vec(
            &self.keys.mirror,
            &cfg_aad(&self.fingerprint),
            self.cfg_text.as_bytes(),
        )?;
        let keys_blob = self.keys.platform_blob().to_vec();
        let meta = self.meta();
        let t0 = Instant::now();
        let mut seal_ns = 0;
        let (key, fp, lay, net) = (
            &self.keys.mirror,
            &self.fingerprint,
            &self.layout,
            &self.net,
        );
        let nt = if self.streaming {
            Some(&mut self.nt)
        } else {
            None
        };
        match mode {
            MirrorMode::Romulus => {
                pool.write(|tx| -> Result<()> {
                    let dir_off = tx.alloc(DIRECTORY_LEN as u64)?;
                    let img_off = tx.alloc(image_len)?;
                    let t = Instant::now();
                    image::seal_image(
                        key,
                        fp,
                        lay,
                        &meta,
                        net,
                        tx.bytes_mut(img_off, lay.len)?,
                        nt,
                    )?;
                    seal_ns = ns(t);
                    let dir = MirrorDirectory {
                        iteration: meta.iteration,
                        image: Region {
                            off: img_off,
                            len: image_len,
                        },
                    };
                    tx.bytes_mut(dir_off, DIRECTORY_LEN)?
                        .copy_from_slice(&dir.encode());
                    sb.directory = dir_off;
                    write_superblock(tx, &mut sb, &cfg, &keys_blob)
                })?;
            }
            MirrorMode::Ab => {
                let slot = sb.ab_slot(0);
                let mut raw = pool.raw_mut();
                let t = Instant::now();
                image::seal_image(
                    key,
                    fp,
                    lay,
                    &meta,
                    net,
                    raw.bytes_mut(slot.off, lay.len)?,
                    nt,
                )?;
                seal_ns = ns(t);
                raw.persist(slot.off, lay.len)?;
                raw.fence();
                raw.store_u64(sb.ab_area.off, layout::selector_word(0, meta.iteration))?;
                raw.persist(sb.ab_area.off, 8)?;
                raw.fence();
                pool.write(|tx| write_superblock(tx, &mut sb, &cfg, &keys_blob))?;
            }
            MirrorMode::Ssd => {
                let store = self.store.as_mut().ok_or_else(|| {
                    EnclaveError::Usage("ssd mode needs the host's checkpoint store".into())
                })?;
                self.ssd_buf.resize(lay.len, 0);
                let t = Instant::now();
                image::seal_image(key, fp, lay, &meta, net, &mut self.ssd_buf, None)?;
                seal_ns = ns(t);
                store.store(&self.ssd_buf).map_err(checkpoint_error)?;
                pool.write(|tx| write_superblock(tx, &mut sb, &cfg, &keys_blob))?;
            }
        }
        let total_ns = ns(t0);
        let out = MirrorOutStats {
            iteration: meta.iteration,
            bytes: image_len,
            seal_ns,
            persist_ns: total_ns.saturating_sub(seal_ns),
            total_ns,
        };
        self.session = Some(Session {
            sb,
            pool: name,
            ab_active: 0,
            dataset_checked: None,
        });
        Ok(Attached {
            created: true,
            iteration: meta.iteration,
            seen: self.net.seen(),
            mode,
            seed: self.seed,
            mirror_in: None,
            mirror_out: Some(out),
        })
    }

    fn session(&self) -> Result<&Session> {
        self.session
            .as_ref()
            .ok_or_else(|| EnclaveError::Usage("the enclave is not attached to a pool".into()))
    }

    fn meta(&self) -> Meta {
        let mut net_rng = [0u8; nn::RNG_STATE_LEN];
        net_rng.copy_from_slice(&self.net.rng_state());
        Meta {
            iteration: self.net.iteration(),
            seen: self.net.seen(),
            loss: self.loss,
            avg_loss: self.avg_loss,
            seed: self.seed,
            net_rng,
            sampler: self.sampler.as_ref().map(|s| {
                let mut state = [0u8; nn::RNG_STATE_LEN];
                state.copy_from_slice(&s.rng.state());
                SamplerMeta {
                    state,
                    count: s.count,
                    dataset_id: s.dataset_id,
                }
            }),
            buffers: self.layout.buffers.clone(),
        }
    }

    /// Back to the freshly initialised model (after a failed mirror-in left
    /// the buffers partly overwritten).
    fn reset_model(&mut self) -> Result<()> {
        self.net = build_net(&self.cfg_text, &self.origin, self.seed, self.config.threads)?;
        self.sampler = None;
        self.loss = 0.0;
        self.avg_loss = -1.0;
        Ok(())
    }

    fn apply_meta(&mut self, meta: &Meta) -> Result<()> {
        self.net.set_seen(meta.seen);
        self.net.set_rng_state(&meta.net_rng)?;
        self.loss = meta.loss;
        self.avg_loss = meta.avg_loss;
        self.seed = meta.seed;
        self.sampler = match meta.sampler {
            None => None,
            Some(s) => {
                if s.count == 0 {
                    return Err(EnclaveError::MirrorRecord {
                        record: image::META_RECORD.into(),
                        iteration: meta.iteration,
                        reason: "its data cursor ranges over an empty dataset".into(),
                    });
                }
                let mut rng = BatchSampler::new(meta.seed, s.count as usize);
                rng.set_state(&s.state).map_err(nn::NnError::from)?;
                Some(Sampler {
                    rng,
                    dataset_id: s.dataset_id,
                    count: s.count,
                })
            }
        };
        if self.net.iteration() != meta.iteration {
            return Err(EnclaveError::MirrorRecord {
                record: image::META_RECORD.into(),
                iteration: meta.iteration,
                reason: format!("seen {} is not iteration {}", meta.seen, meta.iteration),
            });
        }
        Ok(())
    }

    /// Seals the whole state into the pool's mirror (or the host's checkpoint
    /// in `ssd` mode) so that it commits atomically: `romulus` one write
    /// transaction; `ab` the idle slot, persisted and fenced, then the
    /// selector; `ssd` the host's durable file replace.
    pub fn mirror_out<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<MirrorOutStats> {
        let (sb, active) = {
            let s = self.session()?;
            (s.sb, s.ab_active)
        };
        let meta = self.meta();
        let it = meta.iteration;
        let t0 = Instant::now();
        let mut seal_ns = 0;
        let (key, fp, lay, net) = (
            &self.keys.mirror,
            &self.fingerprint,
            &self.layout,
            &self.net,
        );
        let nt = if self.streaming {
            Some(&mut self.nt)
        } else {
            None
        };
        match sb.mode {
            MirrorMode::Romulus => {
                let dir = layout::read_directory(pool, &sb)?;
                pool.write(|tx| -> Result<()> {
                    let t = Instant::now();
                    let dst = tx.bytes_mut(dir.image.off, lay.len)?;
                    image::seal_image(key, fp, lay, &meta, net, dst, nt)?;
                    seal_ns = ns(t);
                    let d = MirrorDirectory {
                        iteration: it,
                        image: dir.image,
                    };
                    tx.bytes_mut(sb.directory, DIRECTORY_LEN)?
                        .copy_from_slice(&d.encode());
                    Ok(())
                })?;
            }
            MirrorMode::Ab => {
                let idle = 1 - active;
                let slot = sb.ab_slot(idle);
                let mut raw = pool.raw_mut();
                let t = Instant::now();
                image::seal_image(
                    key,
                    fp,
                    lay,
                    &meta,
                    net,
                    raw.bytes_mut(slot.off, lay.len)?,
                    nt,
                )?;
                seal_ns = ns(t);
                raw.persist(slot.off, lay.len)?;
                raw.fence();
                raw.store_u64(sb.ab_area.off, layout::selector_word(idle, it))?;
                raw.persist(sb.ab_area.off, 8)?;
                raw.fence();
                if let Some(s) = self.session.as_mut() {
                    s.ab_active = idle;
                }
            }
            MirrorMode::Ssd => {
                let store = self.store.as_mut().ok_or_else(|| {
                    EnclaveError::Usage("ssd mode needs the host's checkpoint store".into())
                })?;
                self.ssd_buf.resize(lay.len, 0);
                let t = Instant::now();
                image::seal_image(key, fp, lay, &meta, net, &mut self.ssd_buf, None)?;
                seal_ns = ns(t);
                store.store(&self.ssd_buf).map_err(checkpoint_error)?;
            }
        }
        let total_ns = ns(t0);
        Ok(MirrorOutStats {
            iteration: it,
            bytes: lay.len as u64,
            seal_ns,
            persist_ns: total_ns.saturating_sub(seal_ns),
            total_ns,
        })
    }

    /// Replaces the enclave's state with the pool's current mirror (or the
    /// host's checkpoint in `ssd` mode). On error the enclave is detached and
    /// its model reset: attach again.
    pub fn mirror_in<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<MirrorInStats> {
        let r = self.mirror_in_inner(pool);
        if r.is_err() {
            self.session = None;
            self.reset_model()?;
        }
        r
    }

    fn mirror_in_inner<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<MirrorInStats> {
        let session = self.session()?;
        let sb = session.sb;
        let name = session.pool.clone();
        let t0 = Instant::now();
        let (key, fp, lay) = (&self.keys.mirror, &self.fingerprint, &self.layout);
        let net = &mut self.net;
        let check_it = |img: &[u8], want: u64, whose: &str| -> Result<()> {
            match image::image_iteration(img) {
                Some(it) if it == want => Ok(()),
                got => Err(EnclaveError::layout(
                    format!("{name}: mirror image"),
                    format!(
                        "the {whose} says iteration {want}, the image says {}",
                        got.map_or("nothing (no image)".to_string(), |g| g.to_string())
                    ),
                )),
            }
        };
        let mut active = 0;
        let (meta, read_ns, open_ns) = match sb.mode {
            MirrorMode::Romulus => {
                let dir = layout::read_directory(pool, &sb)?;
                pool.read(|v| -> Result<_> {
                    let img = v.bytes(dir.image.off, lay.len)?;
                    check_it(img, dir.iteration, "romulus directory")?;
                    let read_ns = ns(t0);
                    let t = Instant::now();
                    let meta = image::open_image(key, fp, lay, img, net)?;
                    Ok((meta, read_ns, ns(t)))
                })?
            }
            MirrorMode::Ab => {
                let (slot, it) = layout::read_selector(pool.raw(), &sb)?;
                let img = sb.ab_slot(slot).slice(pool.raw()).ok_or_else(|| {
                    EnclaveError::layout(
                        format!("{name}: ab slot {slot}"),
                        "outside the raw region",
                    )
                })?;
                check_it(img, it, "ab selector")?;
                active = slot;
                let read_ns = ns(t0);
                let t = Instant::now();
                let meta = image::open_image(key, fp, lay, img, net)?;
                (meta, read_ns, ns(t))
            }
            MirrorMode::Ssd => {
                let store = self.store.as_mut().ok_or_else(|| {
                    EnclaveError::Usage("ssd mode needs the host's checkpoint store".into())
                })?;
                let img = store.load().map_err(checkpoint_error)?.ok_or_else(|| {
                    EnclaveError::Checkpoint(format!(
                        "{name} is an ssd-mode pool but its checkpoint file is missing"
                    ))
                })?;
                let read_ns = ns(t0);
                let t = Instant::now();
                let meta = image::open_image(key, fp, lay, &img, net)?;
                (meta, read_ns, ns(t))
            }
        };
        self.apply_meta(&meta)?;
        if let Some(s) = self.session.as_mut() {
            s.ab_active = active;
        }
        Ok(MirrorInStats {
            iteration: meta.iteration,
            bytes: self.layout.len as u64,
            read_ns,
            open_ns,
            total_ns: ns(t0),
        })
    }

    /// One training iteration, without mirroring: draws the batch indices
    /// from the enclave's sampler, opens those records of the dataset in the
    /// pool's dataset area (in place: no copy before the enclave), trains one
    /// step. A record that fails to open is an error naming the sample;
    /// nothing is trained and the sampler is rewound.
    pub fn step<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<IterationReport> {
        let sb = self.session()?.sb;
        let data = layout::complete_dataset(pool.raw(), sb.dataset_area)?;
        let ds = SealedDataset::parse(data, "the dataset in the pool")?;
        self.check_dataset(&ds)?;
        let t0 = Instant::now();
        let h = *ds.header();
        let per = h.pixels();
        let batch = self.net.batch();
        let s = self.sampler.get_or_insert_with(|| Sampler {
            rng: BatchSampler::new(self.seed, h.sample_count as usize),
            dataset_id: h.dataset_id,
            count: h.sample_count,
        });
        // The record of sample k is opened into pixels[k*per .. k*per + per + 1]:
        // its label byte lands on the next sample's first pixel (overwritten
        // next) and is read out first; one spare byte for the last label.
        self.pixels.resize(batch * per + 1, 0);
        self.labels.resize(batch, 0);
        self.indices.resize(batch, 0);
        let saved = s.rng.state();
        s.rng.fill(&mut self.indices);
        for (k, &i) in self.indices.iter().enumerate() {
            let i = i as u64;
            let out = &mut self.pixels[k * per..k * per + per + 1];
            let opened = ds.record(i).and_then(|rec| {
                seal::dataset::open_sample(&self.keys.dataset, &h.dataset_id, i, rec, out)
            });
            match opened {
                Ok(label) => self.labels[k] = label,
                Err(e) => {
                    s.rng.set_state(&saved).map_err(nn::NnError::from)?;
                    self.pixels.fill(0);
                    let reason = match e {
                        seal::SealError::Open { .. } => "the sealed record does not open \
                            (tampered, moved, relabelled or from another dataset)"
                            .to_string(),
                        other => other.to_string(),
                    };
                    return Err(EnclaveError::Sample {
                        dataset: h.id_hex(),
                        index: i,
                        reason,
                    });
                }
            }
        }
        let load_ns = ns(t0);
        let learning_rate = self.net.next_learning_rate();
        let t1 = Instant::now();
        let loss = match self
            .net
            .train_step_u8(&self.pixels[..batch * per], &self.labels)
        {
            Ok(l) => l,
            Err(e) => {
                s.rng.set_state(&saved).map_err(nn::NnError::from)?;
                return Err(e.into());
            }
        };
        let train_ns = ns(t1);
        self.loss = loss;
        self.avg_loss = if self.avg_loss < 0.0 {
            loss
        } else {
            self.avg_loss * 0.9 + loss * 0.1
        };
        Ok(IterationReport {
            iteration: self.net.iteration(),
            seen: self.net.seen(),
            loss,
            avg_loss: self.avg_loss,
            learning_rate,
            load_ns,
            train_ns,
            mirror: None,
        })
    }

    fn check_dataset(&mut self, ds: &SealedDataset<'_>) -> Result<()> {
        let h = *ds.header();
        if self.session()?.dataset_checked == Some(h.dataset_id) {
            return Ok(());
        }
        ds.verify_header(&self.keys.dataset)?;
        if h.split != Split::Train {
            return Err(EnclaveError::Dataset(format!(
                "dataset {} is the {} split; training needs the train split",
                h.id_hex(),
                h.split
            )));
        }
        if h.pixels() != self.net.input_len() {
            return Err(EnclaveError::Dataset(format!(
                "dataset {} has samples of {}x{} = {} values, the model {} takes {}",
                h.id_hex(),
                h.rows,
                h.cols,
                h.pixels(),
                self.origin,
                self.net.input_len()
            )));
        }
        if h.sample_count == 0 {
            return Err(EnclaveError::Dataset(format!(
                "dataset {} is empty",
                h.id_hex()
            )));
        }
        if let Some(s) = &self.sampler
            && (s.dataset_id != h.dataset_id || s.count != h.sample_count)
        {
            return Err(EnclaveError::Dataset(format!(
                "the mirror's data cursor is for dataset {} ({} samples), the pool holds dataset \
                 {} ({} samples)",
                hex::encode(s.dataset_id),
                s.count,
                h.id_hex(),
                h.sample_count
            )));
        }
        if let Some(s) = self.session.as_mut() {
            s.dataset_checked = Some(h.dataset_id);
        }
        Ok(())
    }

    /// Trains until the iteration reaches `target`, mirroring out every
    /// `mirror_every` iterations and after the last one. `on_iteration` sees
    /// every iteration's report (with its mirror-out, if any); returning
    /// `Break` stops after mirroring the state.
    pub fn train_until<B: PmBackend>(
        &mut self,
        pool: &mut Pool<B>,
        target: u64,
        on_iteration: &mut dyn FnMut(&IterationReport) -> ControlFlow<()>,
    ) -> Result<TrainSummary> {
        let start = self.net.iteration();
        let mut sum = TrainSummary {
            start_iteration: start,
            end_iteration: start,
            avg_loss: self.avg_loss,
            ..TrainSummary::default()
        };
        let every = self.config.mirror_every;
        while self.net.iteration() < target {
            let mut r = self.step(pool)?;
            sum.load_ns += r.load_ns;
            sum.train_ns += r.train_ns;
            sum.last_loss = r.loss;
            sum.avg_loss = r.avg_loss;
            sum.end_iteration = r.iteration;
            if r.iteration % every == 0 || r.iteration >= target {
                let m = self.mirror_out(pool)?;
                sum.mirrors += 1;
                sum.mirror_ns += m.total_ns;
                r.mirror = Some(m);
            }
            if on_iteration(&r).is_break() {
                if r.mirror.is_none() {
                    let m = self.mirror_out(pool)?;
                    sum.mirrors += 1;
                    sum.mirror_ns += m.total_ns;
                }
                sum.stopped = true;
                break;
            }
        }
        Ok(sum)
    }

    /// Trains `iterations` more iterations (see [`Enclave::train_until`]).
    pub fn train<B: PmBackend>(
        &mut self,
        pool: &mut Pool<B>,
        iterations: u64,
        on_iteration: &mut dyn FnMut(&IterationReport) -> ControlFlow<()>,
    ) -> Result<TrainSummary> {
        let target = self.net.iteration().saturating_add(iterations);
        self.train_until(pool, target, on_iteration)
    }

    /// Accuracy on test images handed in by the host (`pixels`: n images of
    /// [`Enclave::input_len`] bytes; `labels`: n labels).
    pub fn evaluate(&mut self, pixels: &[u8], labels: &[u8]) -> Result<f32> {
        Ok(self.net.evaluate_u8(pixels, labels)?)
    }

    /// Accuracy on a sealed test dataset (the owner's sealed test split),
    /// opened inside the enclave.
    pub fn evaluate_sealed(&mut self, sealed_test: &[u8]) -> Result<f32> {
        let ds = SealedDataset::parse(sealed_test, "the sealed test dataset")?;
        ds.verify_header(&self.keys.dataset)?;
        let h = *ds.header();
        if h.pixels() != self.net.input_len() {
            return Err(EnclaveError::Dataset(format!(
                "test dataset {} has samples of {} values, the model takes {}",
                h.id_hex(),
                h.pixels(),
                self.net.input_len()
            )));
        }
        let n = h.sample_count as usize;
        let per = h.pixels();
        let mut pixels = zeroize::Zeroizing::new(vec![0u8; n * per + 1]);
        let mut labels = vec![0u8; n];
        for (i, label) in labels.iter_mut().enumerate() {
            *label = ds
                .open_sample(
                    &self.keys.dataset,
                    i as u64,
                    &mut pixels[i * per..i * per + per + 1],
                )
                .map_err(|e| EnclaveError::Sample {
                    dataset: h.id_hex(),
                    index: i as u64,
                    reason: e.to_string(),
                })?;
        }
        Ok(self.net.evaluate_u8(&pixels[..n * per], &labels)?)
    }

    /// The model as a Darknet `.weights` file sealed with the owner's export
    /// key (open it with [`crate::open_exported`]).
    pub fn export_sealed(&self) -> Result<Vec<u8>> {
        let weights = zeroize::Zeroizing::new(nn::weights::weights_bytes(&self.net));
        crate::export::seal_export(
            &self.keys.export,
            &self.fingerprint,
            self.net.iteration(),
            self.net.seen(),
            &weights,
        )
    }

    /// SHA-256 over the whole training state (every state buffer, `seen`,
    /// the RNG states, the data cursor): equal digests mean bit-identical
    /// states. Reveals nothing usable about the weights.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"plinius/state-digest/v1\0");
        h.update(self.fingerprint);
        h.update(self.net.seen().to_le_bytes());
        h.update(self.net.rng_state());
        if let Some(s) = &self.sampler {
            h.update(s.rng.state());
            h.update(s.dataset_id);
        }
        for (name, b) in self.net.state_buffers() {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((b.len() as u64).to_le_bytes());
            h.update(bytemuck::cast_slice::<f32, u8>(b));
        }
        h.finalize().into()
    }

    /// Completed training iterations.
    pub fn iteration(&self) -> u64 {
        self.net.iteration()
    }

    /// Images seen.
    pub fn seen(&self) -> u64 {
        self.net.seen()
    }

    /// Loss of the last iteration.
    pub fn loss(&self) -> f32 {
        self.loss
    }

    /// Darknet's running average loss (-1 before the first iteration).
    pub fn avg_loss(&self) -> f32 {
        self.avg_loss
    }

    /// The model fingerprint (SHA-256 of the canonical cfg).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The run settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run's seed (the pool's once attached to an existing pool).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Images per iteration.
    pub fn batch(&self) -> usize {
        self.net.batch()
    }

    /// Input bytes per image.
    pub fn input_len(&self) -> usize {
        self.net.input_len()
    }

    /// Training FLOPs per iteration (for throughput figures).
    pub fn flops_per_iteration(&self) -> u64 {
        self.net.flops_per_iteration()
    }

    /// The attached pool's superblock, if attached.
    pub fn superblock(&self) -> Option<&Superblock> {
        self.session.as_ref().map(|s| &s.sb)
    }

    #[cfg(test)]
    pub(crate) fn net(&self) -> &Network {
        &self.net
    }

    #[cfg(test)]
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }
}
