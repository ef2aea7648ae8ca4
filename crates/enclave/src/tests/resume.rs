//! Resume equivalence in-process: 6 iterations straight versus 3, drop the
//! enclave, re-attach (mirror-in), 3 more: identical state bytes.

use super::*;

fn resume_is_bit_identical(mode: MirrorMode, every: u64) {
    let fx = Fixture::new(32);
    // Run A: straight.
    let store_a = MemStore::default();
    let mut a = fx.enclave(mode, &store_a);
    let mut pool_a = fx.mem_pool(&a);
    assert!(a.attach(&mut pool_a).unwrap().created);
    train_to(&mut a, &mut pool_a, 6);
    assert_eq!(a.iteration(), 6);
    // Run B: 3, drop, re-attach, 3.
    let store_b = MemStore::default();
    let mut cfg = Fixture::config(mode);
    cfg.mirror_every = every;
    let mut b = Enclave::new(fx.keys(), CFG, "test.cfg", cfg).unwrap();
    b.set_checkpoint_store(Box::new(store_b.clone()));
    let mut pool_b = fx.mem_pool(&b);
    b.attach(&mut pool_b).unwrap();
    train_to(&mut b, &mut pool_b, 3);
    let mid = state_bytes(&b);
    drop(b);
    let mut b = Enclave::new(fx.keys(), CFG, "test.cfg", cfg).unwrap();
    b.set_checkpoint_store(Box::new(store_b.clone()));
    let at = b.attach(&mut pool_b).unwrap();
    assert!(!at.created);
    assert_eq!(
        at.iteration, 3,
        "{mode}: resumed from iteration {}",
        at.iteration
    );
    assert_eq!(state_bytes(&b), mid, "{mode}: mirror-in restores the state");
    train_to(&mut b, &mut pool_b, 6);
    let (sa, sb) = (state_bytes(&a), state_bytes(&b));
    assert_eq!(sa.len(), sb.len());
    for ((na, ba), (nb, bb)) in sa.iter().zip(&sb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{mode}: buffer {na} differs after resume");
    }
    assert_eq!(a.state_digest(), b.state_digest());
    assert_eq!(a.avg_loss().to_bits(), b.avg_loss().to_bits());
    // Training did change the state (the comparison is not vacuous).
    assert_ne!(mid, sa);
}

#[test]
fn resume_romulus() {
    resume_is_bit_identical(MirrorMode::Romulus, 1);
}

#[test]
fn resume_ab() {
    resume_is_bit_identical(MirrorMode::Ab, 1);
}

#[test]
fn resume_ssd() {
    resume_is_bit_identical(MirrorMode::Ssd, 1);
}

#[test]
fn resume_with_mirror_every_2_mirrors_the_last_iteration() {
    // 3 is not a multiple of 2: the end of the train call mirrors anyway.
    resume_is_bit_identical(MirrorMode::Ab, 2);
}

#[test]
fn mirror_every_k_skips_mirrors_and_a_stop_mirrors() {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let mut cfg = Fixture::config(MirrorMode::Romulus);
    cfg.mirror_every = 3;
    let mut e = Enclave::new(fx.keys(), CFG, "test.cfg", cfg).unwrap();
    e.set_checkpoint_store(Box::new(store));
    let mut pool = fx.mem_pool(&e);
    e.attach(&mut pool).unwrap();
    let mut mirrored = Vec::new();
    let s = e
        .train_until(&mut pool, 7, &mut |r| {
            if r.mirror.is_some() {
                mirrored.push(r.iteration);
            }
            assert!(r.loss.is_finite());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(mirrored, vec![3, 6, 7]);
    assert_eq!((s.start_iteration, s.end_iteration, s.mirrors), (0, 7, 3));
    // Stop at 8 (not a multiple of 3): the state is mirrored before returning.
    let s = e
        .train_until(&mut pool, 20, &mut |r| {
            if r.iteration == 8 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(s.stopped);
    assert_eq!(
        layout::mirror_iteration(&pool, e.superblock().unwrap()).unwrap(),
        Some(8)
    );
}

#[test]
fn enclave_is_send_and_streaming_or_not_gives_images_that_open() {
    fn send<T: Send>() {}
    send::<Enclave>();
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let (mut e, mut pool) = fx.attached(MirrorMode::Ab, &store);
    train_to(&mut e, &mut pool, 1);
    e.set_streaming_stores(false);
    train_to(&mut e, &mut pool, 2);
    let d = e.state_digest();
    drop(e);
    let mut e = fx.enclave(MirrorMode::Ab, &store);
    assert_eq!(e.attach(&mut pool).unwrap().iteration, 2);
    assert_eq!(e.state_digest(), d);
}
