//! The three ways keys enter the enclave, the restart path through the pool,
//! and the export for the owner.

use super::*;
use crate::{EnclaveError, measurement, open_exported};
use seal::evidence::Policy;

#[test]
fn dev_shortcut_then_restart_from_the_pool_without_owner() {
    let fx = Fixture::new(16);
    let policy = Policy {
        allow_sim: true,
        sim_platform_key: Some(fx.platform.public_key()),
        ..Policy::default()
    };
    let provider = fx.platform.provider(measurement());
    let keys = Keys::dev_provision(&provider, &policy, &fx.bundle, &fx.platform).unwrap();
    assert_eq!(
        keys.model_fingerprint(),
        fx.bundle.model.key().fingerprint()
    );
    let mut e = Enclave::new(keys, CFG, "test.cfg", Fixture::config(MirrorMode::Ab)).unwrap();
    let mut pool = fx.mem_pool(&e);
    e.attach(&mut pool).unwrap();
    train_to(&mut e, &mut pool, 2);
    let digest = e.state_digest();
    drop(e);

    // Restart: the keys come from the pool, sealed to this platform.
    let keys = Keys::from_pool(&pool, &fx.platform).unwrap();
    let (e, at) = Enclave::open(keys, &pool, None, 1).unwrap();
    assert_eq!(
        (at.created, at.iteration, at.mode),
        (false, 2, MirrorMode::Ab)
    );
    assert_eq!(e.state_digest(), digest);

    // Another platform cannot unseal them.
    let other = Fixture::new(1);
    let err = Keys::from_pool(&pool, &other.platform).unwrap_err();
    assert!(err.to_string().contains("keys sealed in the pool"), "{err}");

    // Evidence pinned to another platform key is refused by the owner side.
    let bad = Policy {
        allow_sim: true,
        sim_platform_key: Some(other.platform.public_key()),
        ..Policy::default()
    };
    assert!(Keys::dev_provision(&provider, &bad, &fx.bundle, &fx.platform).is_err());
}

#[test]
fn provisioned_bundle_is_accepted_through_the_session_state() {
    let fx = Fixture::new(1);
    let m = measurement();
    let provider = fx.platform.provider(m);
    let nonce = [9u8; 32];
    let (session, attested) = seal::provision::EnclaveSession::start(&provider, &nonce).unwrap();
    let state = session.seal_state(&fx.platform, &m).unwrap();
    drop(session);
    let policy = Policy {
        allow_sim: true,
        sim_platform_key: Some(fx.platform.public_key()),
        ..Policy::default()
    };
    let (_, sealed) =
        seal::provision::provision(&attested, &nonce, &m, &policy, &fx.bundle).unwrap();
    let keys = Keys::accept(&fx.platform, &state, &sealed).unwrap();
    assert_eq!(
        keys.dataset_fingerprint(),
        fx.bundle.dataset.key().fingerprint()
    );
    let again = Keys::from_platform_blob(&fx.platform, keys.platform_blob()).unwrap();
    assert_eq!(again.model_fingerprint(), keys.model_fingerprint());
    let mut bad = sealed.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(
        Keys::accept(&fx.platform, &state, &bad),
        Err(EnclaveError::Seal(_))
    ));
    assert!(!format!("{keys:?}").contains(&hex::encode(fx.bundle.model.key().expose_secret())));
}

#[test]
fn export_opens_for_the_owner_only() {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let (mut e, mut pool) = fx.attached(MirrorMode::Romulus, &store);
    train_to(&mut e, &mut pool, 2);
    let sealed = e.export_sealed().unwrap();
    let m = open_exported(&fx.bundle.model, &sealed, "model.sealed").unwrap();
    assert_eq!(m.weights, nn::weights::weights_bytes(e.net()));
    assert_eq!(
        (m.iteration, m.seen, m.fingerprint),
        (2, 16, e.fingerprint())
    );
    let other = KeyBundle::generate().unwrap();
    let err = open_exported(&other.model, &sealed, "model.sealed").unwrap_err();
    assert!(err.to_string().contains("wrong model key"), "{err}");
    let err = open_exported(
        &fx.bundle.model,
        &sealed[..sealed.len() - 1],
        "model.sealed",
    )
    .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let w = window_of(&m.weights);
    assert!(!sealed.windows(w.len()).any(|x| x == w));
}

fn window_of(b: &[u8]) -> &[u8] {
    &b[b.len() / 2..b.len() / 2 + 24]
}

#[test]
fn evaluate_on_plain_and_sealed_test_sets_agree() {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let (mut e, mut pool) = fx.attached(MirrorMode::Romulus, &store);
    train_to(&mut e, &mut pool, 3);
    let mut px = Vec::new();
    let mut labels = Vec::new();
    for i in 0..fx.samples {
        px.extend_from_slice(&sample_pixels(i));
        labels.push((i % 4) as u8);
    }
    let plain = e.evaluate(&px, &labels).unwrap();
    // The fixture's file is the train split; evaluate_sealed accepts any split.
    let sealed = e.evaluate_sealed(&fx.dataset).unwrap();
    assert_eq!(plain, sealed);
    assert!((0.0..=1.0).contains(&plain));
}
