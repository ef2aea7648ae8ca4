//! Golden fixtures of every on-disk format `seal` defines, as written by the
//! format's version 1: the owner key file, the simulated platform's key
//! files, a platform-sealed key bundle, the provisioning files (evidence,
//! sealed session state, sealed bundle), sim and configfs-tsm evidence, and
//! a sealed dataset.
//!
//! Each test decodes its fixture and checks the fields; where encoding is
//! deterministic it re-encodes and compares the bytes. A later format change
//! breaks these tests visibly. Fixtures whose encoding is random (nonces,
//! ephemeral keys) are only written when missing and `PLINIUS_BLESS=1`.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::path::{Path, PathBuf};

use seal::dataset::{DatasetHeader, DatasetWriter, SealedDataset, Split, seal_sample_into};
use seal::evidence::sim::SimEvidence;
use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, EvidenceProvider, Measurement, Policy, report_data, verify};
use seal::keyfile::{KEYFILE_LEN, decode_key_file, encode_key_file};
use seal::platform::{PURPOSE_KEY_BUNDLE, PlatformSealer, SimPlatformKeys};
use seal::provision::{AttestedKey, EnclaveSession, accept_bundle};
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

fn owner_bundle() -> KeyBundle {
    KeyBundle {
        dataset: DatasetKey::from_key(Key256::from_bytes([0x11; 32])),
        model: ModelKey::from_key(Key256::from_bytes([0x22; 32])),
    }
}

fn measurement() -> Measurement {
    Measurement::of(b"golden enclave")
}

const NONCE: &[u8] = b"golden owner nonce 0123456789abc";

/// The fixture simulated platform (its key files decoded; the directory
/// handling is the host's).
fn platform() -> ((), SimPlatformKeys) {
    let src = fixtures().join("sim-platform");
    let read = |f: &str| std::fs::read(src.join(f)).unwrap();
    let p = SimPlatformKeys::from_key_files(
        &read("signing.key"),
        "signing.key",
        &read("sealing.key"),
        "sealing.key",
    )
    .unwrap();
    ((), p)
}

#[test]
fn owner_key_file_v1() {
    let b = owner_bundle();
    let bytes = golden("owner.key", || encode_key_file(&b).to_vec());
    assert_eq!(bytes.len(), KEYFILE_LEN);
    assert_eq!(&bytes[..8], b"PLOWNKEY");
    assert_eq!(decode_key_file(&bytes, "owner.key").unwrap(), b);
    assert_eq!(&encode_key_file(&b)[..], &bytes[..]);
}

#[test]
fn sim_platform_key_files_v1() {
    let src = fixtures().join("sim-platform");
    let (_t, p) = platform();
    for (f, kind) in [("signing.key", 1u16), ("sealing.key", 2)] {
        let b = std::fs::read(src.join(f)).unwrap();
        assert_eq!(b.len(), 8 + 2 + 2 + 32 + 8, "{f}");
        assert_eq!(&b[..8], b"PLSIMPLT");
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 1);
        assert_eq!(u16::from_le_bytes([b[10], b[11]]), kind);
    }
    let public = std::fs::read_to_string(src.join("platform.pub")).unwrap();
    assert_eq!(public.trim(), hex::encode(p.public_key()));
    // Deterministic: the key files and the public key file re-encode.
    assert_eq!(
        &p.signing_key_file()[..],
        &std::fs::read(src.join("signing.key")).unwrap()[..]
    );
    assert_eq!(
        &p.sealing_key_file()[..],
        &std::fs::read(src.join("sealing.key")).unwrap()[..]
    );
    assert_eq!(p.public_key_file(), public);
}

#[test]
fn platform_sealed_bundle_v1() {
    let (_t, p) = platform();
    let m = measurement();
    let b = owner_bundle();
    let blob = golden("bundle.platform-sealed", || {
        seal::platform::seal_to_platform(&p, &b, &m).unwrap()
    });
    assert_eq!(
        seal::platform::unseal_from_platform(&p, &blob, &m).unwrap(),
        b
    );
    // The plain prefix (the record's associated data) is deterministic.
    let mut aad = b"PLPLSEAL".to_vec();
    aad.extend_from_slice(&1u16.to_le_bytes());
    aad.extend_from_slice(&(PURPOSE_KEY_BUNDLE.len() as u16).to_le_bytes());
    aad.extend_from_slice(PURPOSE_KEY_BUNDLE.as_bytes());
    aad.extend_from_slice(&m.0);
    assert_eq!(&blob[..aad.len()], &aad[..]);
    assert_eq!(
        blob.len(),
        aad.len() + seal::sealed_len(seal::key::BUNDLE_LEN)
    );
    assert!(p.unseal(&m, "other", &blob).is_err());
}

/// Writes the three provisioning fixtures together (they belong to one
/// session) when they are missing.
fn provisioning_fixtures(p: &SimPlatformKeys) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let m = measurement();
    let made = std::cell::OnceCell::new();
    let make = || {
        made.get_or_init(|| {
            let provider = p.provider(m);
            let (session, attested) = EnclaveSession::start(&provider, &m, NONCE).unwrap();
            let state = session.seal_state(p, &m).unwrap();
            let sealed =
                seal::provision::seal_bundle(&owner_bundle(), &attested.public_key, NONCE).unwrap();
            (attested.to_bytes(), state, sealed)
        })
        .clone()
    };
    let evidence = golden("provision/evidence.bin", || make().0);
    let state = golden("provision/session.state", || make().1);
    let bundle = golden("provision/bundle.sealed", || make().2);
    (evidence, state, bundle)
}

#[test]
fn provisioning_files_v1() {
    let (_t, p) = platform();
    let m = measurement();
    let (evidence, state, bundle) = provisioning_fixtures(&p);
    let attested = AttestedKey::from_bytes(&evidence).unwrap();
    assert_eq!(&evidence[..8], b"PLATTKEY");
    assert_eq!(attested.to_bytes(), evidence, "re-encoded evidence file");
    let policy = Policy {
        allow_sim: true,
        sim_platform_key: Some(p.public_key()),
        ..Policy::default()
    };
    let rd = report_data(&attested.public_key, NONCE, &m);
    let v = verify(&attested.evidence, &m, &rd, &policy).unwrap();
    assert!(v.simulated);
    let session = EnclaveSession::unseal_state(&p, &m, &state).unwrap();
    assert_eq!(session.public_key(), attested.public_key);
    assert_eq!(&bundle[..8], b"PLBUNDLE");
    assert_eq!(u16::from_le_bytes([bundle[8], bundle[9]]), 1);
    assert_eq!(
        accept_bundle(&p, &m, &state, &bundle).unwrap(),
        owner_bundle()
    );
}

#[test]
fn sim_evidence_v1() {
    let (_t, p) = platform();
    let m = measurement();
    let rd = report_data(&[7; 32], NONCE, &m);
    let fresh = p.provider(m).evidence(&rd).unwrap().to_bytes();
    // Ed25519 signatures are deterministic: the whole encoding is.
    let bytes = golden("evidence-sim.bin", || fresh.clone());
    assert_eq!(bytes, fresh);
    assert_eq!(&bytes[..8], b"PLEVIDNC");
    let Evidence::Sim(ev) = Evidence::from_bytes(&bytes).unwrap() else {
        panic!("not sim evidence");
    };
    assert_eq!(ev.measurement, m);
    assert_eq!(ev.report_data, rd);
    assert_eq!(ev.platform_key, p.public_key());
    assert_eq!(SimEvidence::from_bytes(&ev.to_bytes()).unwrap(), ev);
}

fn tsm_evidence() -> TsmEvidence {
    TsmEvidence {
        provider: "sev_guest".into(),
        generation: 42,
        outblob: (0..0x100u32).map(|i| (i * 3) as u8).collect(),
        auxblob: vec![0xAA; 5],
    }
}

#[test]
fn tsm_evidence_v1() {
    let ev = tsm_evidence();
    let fresh = Evidence::Tsm(ev.clone()).to_bytes();
    let bytes = golden("evidence-tsm.bin", || fresh.clone());
    assert_eq!(bytes, fresh);
    assert_eq!(Evidence::from_bytes(&bytes).unwrap(), Evidence::Tsm(ev));
}

const DS_SAMPLES: u64 = 3;

fn ds_pixels(i: u64) -> Vec<u8> {
    (0..12u64).map(|p| (p * 7 + i * 13) as u8).collect()
}

fn ds_header() -> DatasetHeader {
    DatasetHeader {
        split: Split::Train,
        dataset_id: [0x5D; 16],
        sample_count: DS_SAMPLES,
        rows: 3,
        cols: 4,
    }
}

#[test]
fn sealed_dataset_v1() {
    let key = owner_bundle().dataset.record_key();
    let h = ds_header();
    let bytes = golden("dataset.sealed", || {
        let mut v = h.encode(&key).unwrap().to_vec();
        let mut scratch = vec![0u8; h.plain_len()];
        let mut rec = vec![0u8; h.record_len()];
        for i in 0..DS_SAMPLES {
            seal_sample_into(
                &key,
                &h.dataset_id,
                i,
                &ds_pixels(i),
                (i + 5) as u8,
                &mut scratch,
                &mut rec,
            )
            .unwrap();
            v.extend_from_slice(&rec);
        }
        v
    });
    let ds = SealedDataset::parse(&bytes, "dataset.sealed").unwrap();
    assert_eq!(*ds.header(), h);
    ds.verify_header(&key).unwrap();
    let mut out = vec![0u8; h.plain_len()];
    for i in 0..DS_SAMPLES {
        assert_eq!(ds.open_sample(&key, i, &mut out).unwrap(), (i + 5) as u8);
        assert_eq!(&out[..12], &ds_pixels(i)[..]);
    }
    // The plain fields (0..56) and the reserved bytes re-encode identically.
    let again = h.encode(&key).unwrap();
    assert_eq!(&again[..56], &bytes[..56]);
    assert_eq!(&again[84..120], &bytes[84..120]);
}

/// The writer used by `owner seal-dataset` and the benchmarks writes the
/// fixture's format: same length, same plain header bytes, and records that
/// open to the same samples (the nonces alone differ).
#[test]
fn dataset_writer_writes_the_v1_format() {
    let key = owner_bundle().dataset.record_key();
    let h = ds_header();
    let fixture = std::fs::read(fixtures().join("dataset.sealed")).unwrap();
    let mut w = DatasetWriter::new(&key, h, Vec::new(), "written").unwrap();
    for i in 0..DS_SAMPLES {
        w.push(&ds_pixels(i), (i + 5) as u8).unwrap();
    }
    let bytes = w.finish().unwrap();
    assert_eq!(bytes.len(), fixture.len());
    assert_eq!(&bytes[..56], &fixture[..56]);
    assert_eq!(&bytes[84..120], &fixture[84..120]);
    let (ours, theirs) = (
        SealedDataset::parse(&bytes, "written").unwrap(),
        SealedDataset::parse(&fixture, "dataset.sealed").unwrap(),
    );
    ours.verify_header(&key).unwrap();
    let (mut a, mut b) = (vec![0u8; h.plain_len()], vec![0u8; h.plain_len()]);
    for i in 0..DS_SAMPLES {
        assert_eq!(
            ours.open_sample(&key, i, &mut a).unwrap(),
            theirs.open_sample(&key, i, &mut b).unwrap()
        );
        assert_eq!(a, b);
    }
}
