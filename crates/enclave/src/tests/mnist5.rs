//! The same properties on the real experiment model, `cfg/mnist5.cfg`
//! (batch 128, 28x28), with a small random sealed dataset.

use super::*;
use ptm::Eviction;

const MNIST5: &str = include_str!("../../../../cfg/mnist5.cfg");

fn fixture_28() -> (Fixture, Vec<u8>) {
    let fx = Fixture::new(1);
    let key = fx.bundle.dataset.record_key();
    let header = DatasetHeader {
        split: Split::Train,
        dataset_id: [0x28; 16],
        sample_count: 300,
        rows: 28,
        cols: 28,
    };
    let mut file = header.encode(&key).unwrap().to_vec();
    let mut scratch = vec![0u8; header.plain_len()];
    let mut s = 99u64;
    for i in 0..header.sample_count {
        let px: Vec<u8> = (0..784).map(|_| (splitmix(&mut s) & 0xFF) as u8).collect();
        let mut rec = vec![0u8; header.record_len()];
        seal_sample_into(
            &key,
            &header.dataset_id,
            i,
            &px,
            (i % 10) as u8,
            &mut scratch,
            &mut rec,
        )
        .unwrap();
        file.extend_from_slice(&rec);
    }
    (fx, file)
}

fn enclave(fx: &Fixture, mode: MirrorMode) -> Enclave {
    let mut cfg = Fixture::config(mode);
    cfg.threads = 2;
    Enclave::new(fx.keys(), MNIST5, "cfg/mnist5.cfg", cfg).unwrap()
}

fn sim_pool(e: &Enclave, data: &[u8]) -> Pool<SimPm> {
    let plan = e.plan(data.len() as u64);
    let total = ptm::layout::HEADER_LEN + 2 * plan.main_len as usize + plan.raw_len as usize;
    let mut pool = Pool::format(SimPm::new(total), plan.pool_size()).unwrap();
    import(&mut pool, plan.dataset_area, data);
    pool
}

#[test]
fn mnist5_resume_and_crash_inside_mirror_out() {
    let (fx, data) = fixture_28();
    for mode in [MirrorMode::Romulus, MirrorMode::Ab] {
        // Straight: 2 iterations.
        let mut a = enclave(&fx, mode);
        let mut pool = sim_pool(&a, &data);
        a.attach(&mut pool).unwrap();
        train_to(&mut a, &mut pool, 1);
        let d1 = a.state_digest();
        let base = pool.backend().persisted_image();
        train_to(&mut a, &mut pool, 2);
        let d2 = a.state_digest();
        drop((a, pool));
        // From the image of iteration 1, crash in the middle fence of the
        // mirror-out of iteration 2, recover, finish: the same state.
        let sim = SimPm::from_image(&base);
        sim.set_eviction(Eviction::Random {
            seed: 5,
            percent: 30,
        });
        let mut pool = Pool::from_backend(sim).unwrap();
        let mut b = enclave(&fx, mode);
        assert_eq!(b.attach(&mut pool).unwrap().iteration, 1);
        assert_eq!(b.state_digest(), d1);
        b.step(&pool).unwrap();
        pool.backend().crash_at_fence(2);
        b.mirror_out(&mut pool).unwrap();
        assert!(pool.backend().crashed());
        let img = pool.backend().persisted_image();
        drop((b, pool));
        let mut pool = Pool::from_backend(SimPm::from_image(&img)).unwrap();
        let mut c = enclave(&fx, mode);
        let at = c.attach(&mut pool).unwrap();
        assert!(
            at.iteration == 1 || at.iteration == 2,
            "{mode}: {}",
            at.iteration
        );
        train_to(&mut c, &mut pool, 2);
        assert_eq!(c.state_digest(), d2, "{mode}: resumed run differs");
    }
}
