//! Golden fixtures of the enclave's on-disk formats, version 1: the pool
//! superblock, the dataset area's import header, an `ssd` mirror image and
//! an exported model.
//!
//! Each test decodes its fixture and checks the fields; the superblock and
//! the import header are deterministic and are re-encoded and compared; the
//! sealed formats (random nonces) are opened with the fixture keys and their
//! plain headers compared. Random fixtures are only written when missing and
//! `PLINIUS_BLESS=1`.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use enclave::layout::{
    IMPORT_COPIED_OFF, IMPORT_HEADER_LEN, IMPORT_STATE_OFF, ImportHeader, LAYOUT_VERSION,
    MirrorMode, Region, STATE_COMPLETE, Superblock,
};
use enclave::{BoxError, CheckpointStore, Enclave, Keys, TrainConfig, open_exported};
use ptm::{FlushStrategy, MemBackend, PmBackend, Pool};
use seal::dataset::{DatasetHeader, Split, seal_sample_into};
use seal::{DatasetKey, Key256, KeyBundle, ModelKey};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture `name`; written from `make` first if it is missing and
/// `PLINIUS_BLESS=1` (never overwritten).
fn golden(name: &str, make: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let p = fixtures().join(name);
    if !p.exists() && std::env::var_os("PLINIUS_BLESS").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, make()).unwrap();
    }
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

const CFG: &str = "\
[net]
batch=4
subdivisions=1
height=4
width=4
channels=1
momentum=0.9
decay=0.0005
learning_rate=0.05

[convolutional]
batch_normalize=1
filters=2
size=3
stride=1
pad=1
activation=leaky

[connected]
output=3
activation=linear

[softmax]
";

fn bundle() -> KeyBundle {
    KeyBundle {
        dataset: DatasetKey::from_key(Key256::from_bytes([0x33; 32])),
        model: ModelKey::from_key(Key256::from_bytes([0x44; 32])),
    }
}

fn superblock() -> Superblock {
    Superblock {
        version: LAYOUT_VERSION,
        mode: MirrorMode::Ab,
        fingerprint: [0xF1; 32],
        seed: 42,
        image_len: 12_345,
        sealed_cfg: Region {
            off: 4096,
            len: 328,
        },
        sealed_keys: Region {
            off: 8192,
            len: 200,
        },
        dataset_area: Region { off: 0, len: 8192 },
        ab_area: Region {
            off: 8192,
            len: 4096 + 2 * 16_384,
        },
        ab_slot_len: 16_384,
        directory: 0,
    }
}

#[test]
fn superblock_v1() {
    let sb = superblock();
    let bytes = golden("superblock.bin", || sb.encode().to_vec());
    assert_eq!(&bytes[..8], b"PLSUPER\0");
    assert_eq!(Superblock::decode(&bytes).unwrap(), sb);
    assert_eq!(&sb.encode()[..], &bytes[..]);
}

fn import_header() -> ImportHeader {
    ImportHeader {
        dataset_id: [0xD1; 16],
        record_count: 3,
        record_len: 45,
        file_len: 128 + 3 * 45,
    }
}

#[test]
fn dataset_area_header_v1() {
    let h = import_header();
    let fresh = || {
        let mut v = vec![0u8; IMPORT_HEADER_LEN as usize];
        v[..56].copy_from_slice(&h.encode());
        let o = IMPORT_COPIED_OFF as usize;
        v[o..o + 8].copy_from_slice(&h.file_len.to_le_bytes());
        let o = IMPORT_STATE_OFF as usize;
        v[o..o + 8].copy_from_slice(&STATE_COMPLETE.to_le_bytes());
        v
    };
    let bytes = golden("dataset-area-header.bin", fresh);
    assert_eq!(&bytes[..8], b"PLIMPRT\0");
    assert_eq!(ImportHeader::decode(&bytes[..56]).unwrap(), h);
    assert_eq!(bytes, fresh());
}

/// The `ssd` checkpoint kept in memory.
#[derive(Clone, Default)]
struct MemStore(Arc<Mutex<Option<Vec<u8>>>>);

impl CheckpointStore for MemStore {
    fn load(&mut self) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn store(&mut self, image: &[u8]) -> Result<(), BoxError> {
        *self.0.lock().unwrap() = Some(image.to_vec());
        Ok(())
    }
}

fn sealed_dataset(b: &KeyBundle) -> Vec<u8> {
    let key = b.dataset.record_key();
    let h = DatasetHeader {
        split: Split::Train,
        dataset_id: [0xD2; 16],
        sample_count: 8,
        rows: 4,
        cols: 4,
    };
    let mut v = h.encode(&key).unwrap().to_vec();
    let mut scratch = vec![0u8; h.plain_len()];
    let mut rec = vec![0u8; h.record_len()];
    for i in 0..h.sample_count {
        let px: Vec<u8> = (0..16u64).map(|p| (p * 11 + i * 5) as u8).collect();
        seal_sample_into(
            &key,
            &h.dataset_id,
            i,
            &px,
            (i % 3) as u8,
            &mut scratch,
            &mut rec,
        )
        .unwrap();
        v.extend_from_slice(&rec);
    }
    v
}

fn import<B: PmBackend>(pool: &mut Pool<B>, area: Region, file: &[u8]) {
    let h = seal::dataset::parse_header(file, "golden dataset").unwrap();
    let ih = ImportHeader {
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
    raw.store_u64(area.off + IMPORT_COPIED_OFF, file.len() as u64)
        .unwrap();
    raw.store_u64(area.off + IMPORT_STATE_OFF, STATE_COMPLETE)
        .unwrap();
}

/// An `ssd`-mode enclave attached to a fresh in-memory pool, checkpointing
/// to `store`.
struct Setup {
    enclave: Enclave,
    pool: Pool<MemBackend>,
}

fn setup(store: &MemStore) -> Setup {
    let platform = seal::platform::SimPlatformKeys::generate().unwrap();
    let keys = Keys::from_bundle(bundle(), &platform).unwrap();
    let config = TrainConfig {
        threads: 1,
        seed: 7,
        mirror: MirrorMode::Ssd,
        mirror_every: 1,
    };
    let mut e = Enclave::new(keys, CFG, "golden.cfg", config).unwrap();
    e.set_checkpoint_store(Box::new(store.clone()));
    let data = sealed_dataset(&bundle());
    let plan = e.plan(data.len() as u64);
    let total = ptm::layout::HEADER_LEN + 2 * plan.main_len as usize + plan.raw_len as usize;
    let mut pool = Pool::format(
        MemBackend::new(total, FlushStrategy::None),
        plan.pool_size(),
    )
    .unwrap();
    import(&mut pool, plan.dataset_area, &data);
    Setup { enclave: e, pool }
}

/// An enclave trained one iteration: its checkpoint and its export.
fn trained() -> (Enclave, Vec<u8>, Vec<u8>) {
    let store = MemStore::default();
    let mut s = setup(&store);
    s.enclave.attach(&mut s.pool).unwrap();
    s.enclave
        .train_until(&mut s.pool, 1, &mut |_| ControlFlow::Continue(()))
        .unwrap();
    let image = store.0.lock().unwrap().clone().unwrap();
    let export = s.enclave.export_sealed().unwrap();
    (s.enclave, image, export)
}

#[test]
fn mirror_image_v1() {
    let (e, fresh, _) = trained();
    let bytes = golden("mirror-ssd.image", || fresh.clone());
    assert_eq!(&bytes[..8], b"PLMIRROR");
    assert_eq!(enclave::image::image_iteration(&bytes), Some(1));
    // The plain header (magic, version, records, iteration, length, model)
    // is deterministic.
    assert_eq!(&bytes[..enclave::image::IMAGE_HEADER_LEN], &fresh[..64]);
    assert_eq!(bytes.len(), e.image_len() as usize);
    // A new enclave of the same model and keys mirrors the fixture in.
    let store = MemStore::default();
    let mut s = setup(&store);
    s.enclave.attach(&mut s.pool).unwrap();
    *store.0.lock().unwrap() = Some(bytes);
    let stats = s.enclave.mirror_in(&s.pool).unwrap();
    assert_eq!(stats.iteration, 1);
    assert_eq!(s.enclave.iteration(), 1);
    assert_eq!(s.enclave.seen(), 4);
}

#[test]
fn exported_model_v1() {
    let (e, _, fresh) = trained();
    let bytes = golden("model.exported", || fresh.clone());
    assert_eq!(&bytes[..8], b"PLMODEL\0");
    let m = open_exported(&bundle().model, &bytes, "model.exported").unwrap();
    assert_eq!(m.fingerprint, e.fingerprint());
    assert_eq!(m.iteration, 1);
    assert_eq!(m.seen, 4);
    let now = open_exported(&bundle().model, &fresh, "fresh").unwrap();
    assert_eq!(m.weights.len(), now.weights.len());
    assert_eq!(&m.weights[..20], &now.weights[..20], "weights file header");
    assert_eq!(&bytes[..80], &fresh[..80], "plain export header");
}
