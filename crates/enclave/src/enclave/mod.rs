//! [`Enclave`]: the trusted core's state (keys, model, optimizer, RNGs, data
//! cursor) and its operations on a pool: attach (create the superblock and the
//! first mirror, or mirror-in), train with mirroring, evaluate, export.

mod mirror;
mod train;

use crate::error::{EnclaveError, Result};
use crate::image::{self, ImageLayout, Meta, SamplerMeta};
use crate::keys::Keys;
use crate::layout::{self, MirrorMode, PoolPlan, Superblock};
use crate::stats::{MirrorInStats, MirrorOutStats};
use nn::{BatchSampler, Network};
use ptm::{PmBackend, Pool};
use seal::dataset::{DatasetHeader, SealedDataset, Split};
use seal::stream::NtSealer;
use sha2::{Digest, Sha256};
use std::time::Instant;
use zeroize::Zeroizing;

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
    dataset_checked: Option<[u8; seal::dataset::HEADER_LEN]>,
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
    streaming: bool,
    /// The decrypted batch (pixels and one spare byte, labels): plaintext,
    /// cleared when the enclave is dropped (the network clears the model and
    /// its copies of the batch itself: [`Network::clear_buffers`]).
    pixels: Zeroizing<Vec<u8>>,
    labels: Zeroizing<Vec<u8>>,
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
            pixels: Zeroizing::new(Vec::new()),
            labels: Zeroizing::new(Vec::new()),
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

    /// Chooses how `romulus` and `ab` mirror-outs write persistent memory:
    /// `true` (the default) seals each 1 MiB chunk into a cache-resident
    /// scratch record and streams it out with non-temporal stores (no
    /// read-for-ownership of the cold destination); `false` seals straight
    /// into the destination with ordinary stores. Same bytes either way; for
    /// benchmarks.
    pub fn set_streaming_stores(&mut self, on: bool) {
        self.streaming = on;
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

    /// Checks, before anything is written for a new job, that this enclave's
    /// dataset key opens the header of a sealed dataset (`header`: the first
    /// [`seal::dataset::HEADER_LEN`] bytes of the owner's file) and that it
    /// is a training split of samples this model takes.
    pub fn check_dataset_header(&self, header: &[u8]) -> Result<()> {
        let h =
            seal::dataset::verify_header_bytes(header, &self.keys.dataset, "the sealed dataset")?;
        self.check_trainable(&h)
    }

    /// Checks that a verified dataset header is a non-empty training split of
    /// samples this model takes.
    pub(super) fn check_trainable(&self, h: &DatasetHeader) -> Result<()> {
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
        Ok(())
    }

    /// Accuracy on test images handed in by the host (`pixels`: n images of
    /// [`Enclave::input_len`] bytes; `labels`: n labels).
    pub fn evaluate(&mut self, pixels: &[u8], labels: &[u8]) -> Result<f32> {
        Ok(self.net.evaluate_u8(pixels, labels)?)
    }

    /// Accuracy on a sealed test dataset (the owner's sealed test split),
    /// opened inside the enclave.
    pub fn evaluate_sealed(&mut self, sealed_test: &[u8]) -> Result<f32> {
        let what = "the sealed test dataset";
        let header = seal::dataset::private_header(sealed_test, what)?;
        let ds = SealedDataset::with_header(&header, sealed_test, what)?;
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
        let mut pixels = Zeroizing::new(vec![0u8; n * per + 1]);
        let mut labels = Zeroizing::new(vec![0u8; n]);
        for (i, label) in labels.iter_mut().enumerate() {
            *label = ds
                .open_sample(
                    &self.keys.dataset,
                    i as u64,
                    &mut pixels[(i * per)..=(i * per + per)],
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
        let weights = Zeroizing::new(nn::weights::weights_bytes(&self.net));
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
