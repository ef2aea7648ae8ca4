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
    let (session, attested) =
        seal::provision::EnclaveSession::start(&provider, &m, &nonce).unwrap();
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
    assert_eq!(*m.weights, nn::weights::weights_bytes(e.net()));
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

/// The pool's sealed keys point at a shorter blob (as one of another seal
/// format would be), so that the re-seal needs a new block.
fn shorten_keys_blob(pool: &mut Pool<MemBackend>) -> layout::Superblock {
    let mut sb = layout::read_superblock(pool).unwrap().unwrap();
    sb.sealed_keys.len -= 16;
    pool.write(|tx| -> crate::Result<()> {
        let off = tx.root(layout::SUPERBLOCK_ROOT)?;
        tx.bytes_mut(off, layout::SUPERBLOCK_LEN)?
            .copy_from_slice(&sb.encode());
        Ok(())
    })
    .unwrap();
    sb
}

#[test]
fn keys_given_again_are_resealed_when_the_pools_blob_does_not_unseal() {
    let fx = Fixture::new(16);
    let (mut e, mut pool) = fx.attached(MirrorMode::Romulus, &MemStore::default());
    train_to(&mut e, &mut pool, 2);
    // The blob unseals here: left alone.
    assert!(!e.reseal_keys(&mut pool, &fx.platform).unwrap());
    let digest = e.state_digest();
    drop(e);
    for (i, shorten) in [true, false].into_iter().enumerate() {
        // The pool moves to another platform: its blob no longer unseals.
        let other = Fixture::new(1);
        assert!(Keys::from_pool(&pool, &other.platform).is_err());
        let old = if shorten {
            shorten_keys_blob(&mut pool)
        } else {
            layout::read_superblock(&pool).unwrap().unwrap()
        };
        // The owner's keys, given again there, are checked at attach and
        // re-sealed: in place, or into a new block the superblock points to.
        let keys = Keys::from_bundle(fx.bundle.clone(), &other.platform).unwrap();
        let config = Fixture::config(MirrorMode::Romulus);
        let mut e = Enclave::new(keys, CFG, "test.cfg", config).unwrap();
        assert_eq!(e.attach(&mut pool).unwrap().iteration, 2, "round {i}");
        assert!(e.reseal_keys(&mut pool, &other.platform).unwrap());
        assert!(!e.reseal_keys(&mut pool, &other.platform).unwrap());
        drop(e);
        let sb = layout::read_superblock(&pool).unwrap().unwrap();
        assert_eq!(sb.sealed_keys.off != old.sealed_keys.off, shorten);
        // Restarts there need no keys; the old platform is out.
        let keys = Keys::from_pool(&pool, &other.platform).unwrap();
        let (e, at) = Enclave::open(keys, &pool, None, 1).unwrap();
        assert_eq!((at.iteration, e.state_digest()), (2, digest));
        assert!(Keys::from_pool(&pool, &fx.platform).is_err());
    }
    // Keys that are not the pool's are refused at attach; nothing is re-sealed.
    let stranger = Fixture::new(1);
    let keys = Keys::from_bundle(stranger.bundle.clone(), &stranger.platform).unwrap();
    let mut e = Enclave::new(keys, CFG, "test.cfg", Fixture::config(MirrorMode::Romulus)).unwrap();
    assert!(e.attach(&mut pool).is_err());
    assert!(e.reseal_keys(&mut pool, &stranger.platform).is_err());
}

#[test]
fn measurement_covers_every_linked_workspace_crate_and_the_compiler() {
    // build.rs finds these by following the path dependencies; a crate the
    // enclave links but the measurement misses would make it meaningless.
    assert_eq!(
        crate::MEASURED_CRATES,
        &["enclave", "nn", "ptm", "seal", "wire"]
    );
    assert!(
        crate::MEASURED_RUSTC.starts_with("rustc "),
        "{}",
        crate::MEASURED_RUSTC
    );
    assert_eq!(measurement().0, crate::MEASUREMENT);
}
