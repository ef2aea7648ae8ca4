//! Crash at every fence of a mirror-out (and of a pool's creation) on the
//! simulated PM: after recovery the mirror is exactly the previous or the new
//! iteration, never a mix, and training continues from it to the same state
//! as a run that never crashed.

use super::*;
use ptm::Eviction;
use std::collections::BTreeSet;

fn crash_at_every_fence(mode: MirrorMode, eviction: Eviction) -> BTreeSet<u64> {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let mut e = fx.enclave(mode, &store);
    let mut pool = fx.sim_pool(&e);
    e.attach(&mut pool).unwrap();
    train_to(&mut e, &mut pool, 2);
    let d2 = e.state_digest();
    let base = pool.backend().persisted_image();
    e.step(&pool).unwrap();
    let d3 = e.state_digest();
    let f0 = pool.backend().fences();
    e.mirror_out(&mut pool).unwrap();
    let fences = pool.backend().fences() - f0;
    assert!(fences >= 2, "{mode}: a mirror-out takes {fences} fences");
    train_to(&mut e, &mut pool, 5);
    let d5 = e.state_digest();
    drop((e, pool));

    let mut outcomes = BTreeSet::new();
    // k = fences + 1: the crash comes after the mirror-out completed.
    for k in 1..=fences + 1 {
        let sim = SimPm::from_image(&base);
        sim.set_eviction(eviction);
        let mut pool = Pool::from_backend(sim).unwrap();
        let mut e = fx.enclave(mode, &store);
        assert_eq!(e.attach(&mut pool).unwrap().iteration, 2);
        e.step(&pool).unwrap();
        assert_eq!(e.state_digest(), d3);
        pool.backend().crash_at_fence(k);
        e.mirror_out(&mut pool).unwrap();
        pool.backend().crash_now();
        let img = pool.backend().persisted_image();
        drop((e, pool));

        let mut pool = Pool::from_backend(SimPm::from_image(&img)).unwrap();
        let mut e = fx.enclave(mode, &store);
        let at = e
            .attach(&mut pool)
            .unwrap_or_else(|err| panic!("{mode}, crash at fence {k}/{fences}: {err}"));
        let want = match at.iteration {
            2 => d2,
            3 => d3,
            other => panic!("{mode}, crash at fence {k}: recovered iteration {other}"),
        };
        assert_eq!(
            e.state_digest(),
            want,
            "{mode}, crash at fence {k}: iteration {} but not its state (a mix)",
            at.iteration
        );
        outcomes.insert(at.iteration);
        train_to(&mut e, &mut pool, 5);
        assert_eq!(
            e.state_digest(),
            d5,
            "{mode}, crash at fence {k}: training after recovery diverged"
        );
    }
    assert!(
        outcomes.contains(&3),
        "{mode}: a completed mirror-out must survive"
    );
    outcomes
}

#[test]
fn romulus_crash_at_every_fence() {
    let o = crash_at_every_fence(MirrorMode::Romulus, Eviction::None);
    assert!(
        o.contains(&2),
        "an early crash must leave the previous iteration"
    );
    crash_at_every_fence(MirrorMode::Romulus, Eviction::All);
    for seed in 1..=3 {
        crash_at_every_fence(MirrorMode::Romulus, Eviction::Random { seed, percent: 50 });
    }
}

#[test]
fn ab_crash_at_every_fence() {
    let o = crash_at_every_fence(MirrorMode::Ab, Eviction::None);
    assert!(
        o.contains(&2),
        "an early crash must leave the previous iteration"
    );
    crash_at_every_fence(MirrorMode::Ab, Eviction::All);
    for seed in 1..=3 {
        crash_at_every_fence(MirrorMode::Ab, Eviction::Random { seed, percent: 50 });
    }
}

/// A crash at any fence of a pool's creation leaves either no superblock (the
/// next attach creates the pool again) or a complete pool at iteration 0.
fn crash_during_creation(mode: MirrorMode) {
    let fx = Fixture::new(16);
    let store = MemStore::default();
    let e = fx.enclave(mode, &store);
    let pool = fx.sim_pool(&e);
    let base = pool.backend().persisted_image();
    drop(pool);
    let mut created = BTreeSet::new();
    let mut k = 1;
    loop {
        let sim = SimPm::from_image(&base);
        sim.set_eviction(Eviction::Random {
            seed: k,
            percent: 50,
        });
        let mut pool = Pool::from_backend(sim).unwrap();
        let mut e = fx.enclave(mode, &store);
        pool.backend().crash_at_fence(k);
        e.attach(&mut pool).unwrap();
        let done = !pool.backend().crashed();
        pool.backend().crash_now();
        let img = pool.backend().persisted_image();
        drop((e, pool));
        let mut pool = Pool::from_backend(SimPm::from_image(&img)).unwrap();
        let had = layout::read_superblock(&pool).unwrap().is_some();
        let mut e = fx.enclave(mode, &store);
        let at = e.attach(&mut pool).unwrap();
        assert_eq!(at.created, !had, "crash at fence {k}");
        assert_eq!(at.iteration, 0);
        created.insert(had);
        train_to(&mut e, &mut pool, 1);
        if done {
            break;
        }
        k += 1;
    }
    assert_eq!(created.len(), 2, "{mode}: both outcomes reached");
}

#[test]
fn romulus_crash_during_creation() {
    crash_during_creation(MirrorMode::Romulus);
}

#[test]
fn ab_crash_during_creation() {
    crash_during_creation(MirrorMode::Ab);
}

#[test]
#[ignore = "long: many eviction seeds (run with --ignored)"]
fn crash_at_every_fence_many_seeds() {
    for mode in [MirrorMode::Romulus, MirrorMode::Ab] {
        for seed in 1..=40 {
            for percent in [10, 50, 90] {
                crash_at_every_fence(mode, Eviction::Random { seed, percent });
            }
        }
        crash_during_creation(mode);
    }
}
