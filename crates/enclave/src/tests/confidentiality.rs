//! The pool and the ssd checkpoint hold no key bytes, no plaintext state
//! buffer, no plaintext image and not the cfg text.

use super::*;
use seal::key::{LABEL_DATASET, LABEL_EXPORT, LABEL_MIRROR};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The most distinctive 16-byte window of `b` (most distinct byte values),
/// or `None` if even that one is low-entropy.
fn window(b: &[u8]) -> Option<&[u8]> {
    let distinct = |w: &[u8]| {
        let mut seen = [false; 256];
        w.iter().for_each(|&x| seen[x as usize] = true);
        seen.iter().filter(|&&s| s).count()
    };
    b.chunks_exact(16)
        .max_by_key(|w| distinct(w))
        .filter(|w| distinct(w) >= 8)
}

fn no_plaintext_in_pool(mode: MirrorMode) {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let (mut e, mut pool) = fx.attached(mode, &store);
    train_to(&mut e, &mut pool, 3);
    let mut hay = pool.backend().bytes().to_vec();
    if let Some(b) = store.bytes() {
        hay.extend_from_slice(&b);
    }
    assert_eq!(mode == MirrorMode::Ssd, store.bytes().is_some());

    // Keys: the bundle's and every derived subkey.
    let b = e.keys().bundle();
    let keys = [
        b.dataset.key().clone(),
        b.model.key().clone(),
        b.dataset.key().derive(LABEL_DATASET),
        b.model.key().derive(LABEL_MIRROR),
        b.model.key().derive(LABEL_EXPORT),
    ];
    for k in &keys {
        assert!(
            !contains(&hay, k.expose_secret()),
            "{mode}: key bytes in the pool"
        );
        assert!(
            !contains(&hay, &k.expose_secret()[..12]),
            "{mode}: key prefix in the pool"
        );
    }

    // Every state buffer (weights, BN, momentum): its most distinctive window.
    let mut checked = 0;
    for (name, buf) in e.net().state_buffers() {
        let bytes: &[u8] = bytemuck::cast_slice(buf);
        if let Some(w) = window(bytes) {
            checked += 1;
            assert!(
                !contains(&hay, w),
                "{mode}: plaintext of buffer {name} in the pool"
            );
        }
    }
    assert!(
        checked >= 8,
        "{mode}: only {checked} buffers had a distinctive window"
    );

    // Every training image, and the cfg text.
    for i in 0..fx.samples {
        let px = sample_pixels(i);
        assert!(
            !contains(&hay, &px[16..48]),
            "{mode}: plaintext of sample {i} in the pool"
        );
    }
    assert!(
        !contains(&hay, b"[convolutional]"),
        "{mode}: cfg text in the pool"
    );
    assert!(
        !contains(&hay, b"batch_normalize"),
        "{mode}: cfg text in the pool"
    );
    // The searches do find what is there (the search is not vacuous).
    assert!(contains(&hay, &fx.dataset[200..232]));
}

#[test]
fn romulus_pool_holds_no_plaintext() {
    no_plaintext_in_pool(MirrorMode::Romulus);
}

#[test]
fn ab_pool_holds_no_plaintext() {
    no_plaintext_in_pool(MirrorMode::Ab);
}

#[test]
fn ssd_pool_and_checkpoint_hold_no_plaintext() {
    no_plaintext_in_pool(MirrorMode::Ssd);
}
