//! Feeds arbitrary bytes to every parser of sealed and attestation formats:
//! the sealed dataset header and records, evidence and evidence files, key
//! files, key bundles, HPKE bundles and platform-sealed blobs, chunked sealed
//! buffers. Each must return a value or an error, never panic; nothing forged
//! from fuzz bytes may open under the fixed test keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::dataset::{SealedDataset, open_sample};
use seal::evidence::{Evidence, Measurement, Policy, report_data, verify};
use seal::keyfile::decode_key_file;
use seal::provision::{AttestedKey, EnclaveKeyPair, open_bundle};
use seal::{Key256, KeyBundle, open_chunked_to_vec, open_to_vec};

fuzz_target!(|data: &[u8]| {
    let key = Key256::from_bytes([7u8; 32]).seal_key();
    if let Ok(ds) = SealedDataset::parse(data, "fuzz") {
        let _ = ds.verify_header(&key);
        let n = ds.len().min(4);
        let mut out = vec![0u8; ds.header().plain_len()];
        for i in 0..n {
            if let Ok(rec) = ds.record(i) {
                assert!(open_sample(&key, &ds.header().dataset_id, i, rec, &mut out).is_err());
            }
        }
    }
    if let Ok(ev) = Evidence::from_bytes(data) {
        let m = Measurement([1u8; 48]);
        let rd = report_data(&[2u8; 32], b"fuzz nonce", &m);
        let policy = Policy {
            allow_sim: true,
            sim_platform_key: Some([3u8; 32]),
            ..Policy::default()
        };
        assert!(verify(&ev, &m, &rd, &policy).is_err());
        let _ = ev.to_bytes();
    }
    let _ = AttestedKey::from_bytes(data);
    let _ = decode_key_file(data, "fuzz");
    let _ = KeyBundle::from_bytes(data);
    let kp = EnclaveKeyPair::from_secret(&[9u8; 32]).unwrap();
    assert!(open_bundle(&kp, b"fuzz nonce", data).is_err());
    assert!(open_to_vec(&key, b"fuzz", data).is_err());
    assert!(open_chunked_to_vec(&key, b"fuzz", data).is_err());
});
