//! The enclave's tests (unit tests: they see the model's plaintext buffers to
//! compare states and to search the pool for leaks). Fixtures: a small model
//! with batch norm and dropout, a small sealed dataset made with `seal`'s API,
//! a simulated platform in memory, pools over plain memory or
//! the simulated PM.

mod confidentiality;
mod crash;
mod keys;
mod mnist5;
#[cfg(feature = "perf-file")]
mod perf;
mod resume;
mod tamper;

use crate::layout::{self, IMPORT_COPIED_OFF, IMPORT_HEADER_LEN, IMPORT_STATE_OFF, Region};
use crate::{BoxError, CheckpointStore, Enclave, Keys, MirrorMode, TrainConfig};
use ptm::{MemBackend, PmBackend, Pool, SimPm};
use seal::KeyBundle;
use seal::dataset::{DatasetHeader, Split, seal_sample_into};
use seal::platform::SimPlatformKeys;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// Rows and columns of the test images.
pub(crate) const SIDE: u32 = 8;

/// A small model: conv + batch norm, maxpool, dropout, connected, softmax.
pub(crate) const CFG: &str = "\
[net]
batch=8
subdivisions=1
height=8
width=8
channels=1
momentum=0.9
decay=0.0005
learning_rate=0.05

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[dropout]
probability=0.25

[connected]
output=4
activation=linear

[softmax]
";

/// Another model (more filters): a different fingerprint.
pub(crate) const OTHER_CFG: &str = "\
[net]
batch=8
subdivisions=1
height=8
width=8
channels=1
momentum=0.9
decay=0.0005
learning_rate=0.05

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=leaky

[connected]
output=4
activation=linear

[softmax]
";

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Pixels of test sample `i`: high-entropy bytes, so a window of them is
/// distinctive when searched for.
pub(crate) fn sample_pixels(i: u64) -> Vec<u8> {
    let mut s = 0x5EED_0000 + i;
    (0..(SIDE * SIDE) as usize)
        .map(|_| (splitmix(&mut s) & 0xFF) as u8)
        .collect()
}

/// Everything a test needs outside the enclave: the owner's bundle, the
/// simulated platform, the sealed dataset file.
pub(crate) struct Fixture {
    pub platform: SimPlatformKeys,
    pub bundle: KeyBundle,
    pub dataset: Vec<u8>,
    pub samples: u64,
}

impl Fixture {
    pub fn new(samples: u64) -> Fixture {
        let platform = SimPlatformKeys::generate().unwrap();
        let bundle = KeyBundle::generate().unwrap();
        let key = bundle.dataset.record_key();
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [0xD5; 16],
            sample_count: samples,
            rows: SIDE,
            cols: SIDE,
        };
        let mut dataset = header.encode(&key).unwrap().to_vec();
        let mut scratch = vec![0u8; header.plain_len()];
        for i in 0..samples {
            let mut rec = vec![0u8; header.record_len()];
            seal_sample_into(
                &key,
                &header.dataset_id,
                i,
                &sample_pixels(i),
                (i % 4) as u8,
                &mut scratch,
                &mut rec,
            )
            .unwrap();
            dataset.extend_from_slice(&rec);
        }
        Fixture {
            platform,
            bundle,
            dataset,
            samples,
        }
    }

    pub fn keys(&self) -> Keys {
        Keys::from_bundle(self.bundle.clone(), &self.platform).unwrap()
    }

    pub fn config(mode: MirrorMode) -> TrainConfig {
        TrainConfig {
            threads: 1,
            seed: 7,
            mirror: mode,
            mirror_every: 1,
        }
    }

    pub fn enclave(&self, mode: MirrorMode, store: &MemStore) -> Enclave {
        self.enclave_cfg(CFG, mode, store)
    }

    pub fn enclave_cfg(&self, cfg: &str, mode: MirrorMode, store: &MemStore) -> Enclave {
        let mut e = Enclave::new(self.keys(), cfg, "test.cfg", Self::config(mode)).unwrap();
        e.set_checkpoint_store(Box::new(store.clone()));
        e
    }

    /// A new enclave in `mode` (checkpoints to `store`), attached to a new
    /// [`Self::mem_pool`].
    pub fn attached(&self, mode: MirrorMode, store: &MemStore) -> (Enclave, Pool<MemBackend>) {
        let mut e = self.enclave(mode, store);
        let mut pool = self.mem_pool(&e);
        e.attach(&mut pool).unwrap();
        (e, pool)
    }

    /// A pool over plain memory sized by `e.plan`, with the dataset imported.
    pub fn mem_pool(&self, e: &Enclave) -> Pool<MemBackend> {
        let plan = e.plan(self.dataset.len() as u64);
        let total = ptm::layout::HEADER_LEN + 2 * plan.main_len as usize + plan.raw_len as usize;
        let mut pool = Pool::format(
            MemBackend::new(total, ptm::FlushStrategy::None),
            plan.pool_size(),
        )
        .unwrap();
        import(&mut pool, plan.dataset_area, &self.dataset);
        pool
    }

    /// A pool over the simulated PM, sized by `e.plan`, dataset imported.
    pub fn sim_pool(&self, e: &Enclave) -> Pool<SimPm> {
        let plan = e.plan(self.dataset.len() as u64);
        let total = ptm::layout::HEADER_LEN + 2 * plan.main_len as usize + plan.raw_len as usize;
        let mut pool = Pool::format(SimPm::new(total), plan.pool_size()).unwrap();
        import(&mut pool, plan.dataset_area, &self.dataset);
        pool
    }
}

/// Imports a sealed dataset file into `area` the way the host does: header,
/// bytes, then the COMPLETE state word, each persisted and fenced.
pub(crate) fn import<B: PmBackend>(pool: &mut Pool<B>, area: Region, file: &[u8]) {
    let h = seal::dataset::parse_header(file, "test dataset").unwrap();
    let ih = layout::ImportHeader {
        dataset_id: h.dataset_id,
        record_count: h.sample_count,
        record_len: h.record_len() as u32,
        file_len: file.len() as u64,
    };
    let mut raw = pool.raw_mut();
    raw.bytes_mut(area.off, 56)
        .unwrap()
        .copy_from_slice(&ih.encode());
    raw.bytes_mut(area.off + IMPORT_HEADER_LEN, file.len())
        .unwrap()
        .copy_from_slice(file);
    raw.persist(area.off, (IMPORT_HEADER_LEN as usize) + file.len())
        .unwrap();
    raw.fence();
    raw.store_u64(area.off + IMPORT_COPIED_OFF, file.len() as u64)
        .unwrap();
    raw.store_u64(area.off + IMPORT_STATE_OFF, layout::STATE_COMPLETE)
        .unwrap();
    raw.persist(area.off, IMPORT_HEADER_LEN as usize).unwrap();
    raw.fence();
}

/// The `ssd` checkpoint kept in memory, shared between enclaves of one test.
#[derive(Clone, Default)]
pub(crate) struct MemStore(pub Arc<Mutex<Option<Vec<u8>>>>);

impl MemStore {
    pub fn bytes(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
    pub fn set(&self, v: Vec<u8>) {
        *self.0.lock().unwrap() = Some(v);
    }
}

impl CheckpointStore for MemStore {
    fn load(&mut self) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn store(&mut self, image: &[u8]) -> Result<(), BoxError> {
        *self.0.lock().unwrap() = Some(image.to_vec());
        Ok(())
    }
}

/// Trains `e` until `target`, ignoring reports.
pub(crate) fn train_to<B: PmBackend>(e: &mut Enclave, pool: &mut Pool<B>, target: u64) {
    e.train_until(pool, target, &mut |_| ControlFlow::Continue(()))
        .unwrap();
}

/// Every state buffer's bytes, the seen counter and the RNG state.
pub(crate) fn state_bytes(e: &Enclave) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = e
        .net()
        .state_buffers()
        .into_iter()
        .map(|(n, b)| (n, bytemuck::cast_slice::<f32, u8>(b).to_vec()))
        .collect();
    v.push(("seen".into(), e.seen().to_le_bytes().to_vec()));
    v.push(("rng".into(), e.net().rng_state()));
    v
}
