//! What every experiment measures with: the median, CPU clocks and small
//! seeded random generators.

use std::time::Duration;

/// Median of `v` (the mean of the two middle values for an even count; NaN if
/// empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The value of the POSIX clock `id`, or `None` if the system refuses it.
fn clock(id: libc::clockid_t) -> Option<Duration> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the valid, exclusively borrowed
    // timespec we pass.
    let r = unsafe { libc::clock_gettime(id, &raw mut t) };
    if r != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

/// CPU time consumed by the calling thread (zero if unknown).
pub fn thread_cpu_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(Duration::ZERO)
}

/// CPU time consumed by the whole process (all its threads) so far, in
/// milliseconds (NaN if unknown).
pub fn process_cpu_ms() -> f64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// CPU time consumed so far by the live threads of this process, in
/// nanoseconds (Linux `/proc/self/task/*/schedstat`; `None` elsewhere).
/// Threads that already exited are not counted, so take differences around
/// work done by live threads only.
pub fn live_threads_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let p = e.ok()?.path().join("schedstat");
        let s = std::fs::read_to_string(p).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// SplitMix64: a small seeded generator (kill moments, synthetic data).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// xorshift64*: the cheapest generator, for picking slots inside a timed loop.
#[derive(Clone, Debug)]
pub struct XorShift64Star(u64);

impl XorShift64Star {
    /// A generator from `seed` (any value; zero is made odd).
    pub fn new(seed: u64) -> Self {
        XorShift64Star(seed | 1)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn clocks_advance_with_work() {
        let t0 = thread_cpu_time();
        let p0 = process_cpu_ms();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_time() > t0, "{x}");
        assert!(process_cpu_ms() > p0);
        if cfg!(target_os = "linux") {
            assert!(live_threads_cpu_ns().unwrap() > 0);
        }
    }

    #[test]
    fn generators_are_seeded_and_in_range() {
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        assert_eq!(a.next_u64(), b.next_u64());
        // The reference SplitMix64 output for seed 0.
        assert_eq!(SplitMix64(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        for _ in 0..1000 {
            assert!(a.below(10) < 10);
            let f = a.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        let mut x = XorShift64Star::new(0);
        let first = x.next_u64();
        assert_ne!(first, x.next_u64());
        for _ in 0..1000 {
            assert!(x.below(3) < 3);
        }
    }
}
