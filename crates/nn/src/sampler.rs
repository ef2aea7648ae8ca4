//! Batch sampling: uniform indices with replacement (as Darknet's
//! `get_random_batch`), from a ChaCha8 generator whose state serialises.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::rng::{RngStateError, chacha_from_state, chacha_state, derive_seed};

/// Draws batches of sample indices in `0..len`.
#[derive(Debug, Clone)]
pub struct BatchSampler {
    rng: ChaCha8Rng,
    len: usize,
}

impl BatchSampler {
    /// A sampler over `len` samples (must be > 0) seeded with `seed`.
    pub fn new(seed: u64, len: usize) -> Self {
        assert!(len > 0, "BatchSampler over an empty dataset");
        BatchSampler {
            rng: ChaCha8Rng::from_seed(derive_seed(seed, 3)),
            len,
        }
    }

    /// Number of samples drawn from.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false (a sampler needs at least one sample).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One uniform index (unbiased: rejection sampling).
    pub fn next_index(&mut self) -> usize {
        let n = self.len as u64;
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let v = self.rng.next_u64();
            if v <= zone {
                return (v % n) as usize;
            }
        }
    }

    /// Fills `out` with indices.
    pub fn fill(&mut self, out: &mut [usize]) {
        for o in out {
            *o = self.next_index();
        }
    }

    /// A batch of `size` indices.
    pub fn next_batch(&mut self, size: usize) -> Vec<usize> {
        let mut v = vec![0; size];
        self.fill(&mut v);
        v
    }

    /// The generator's state (56 bytes).
    pub fn state(&self) -> Vec<u8> {
        chacha_state(&self.rng)
    }

    /// Restores [`BatchSampler::state`]'s bytes.
    pub fn set_state(&mut self, bytes: &[u8]) -> Result<(), RngStateError> {
        self.rng = chacha_from_state(bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_in_range_and_resumable() {
        let mut a = BatchSampler::new(3, 10);
        let first = a.next_batch(1000);
        assert!(first.iter().all(|&i| i < 10));
        for v in 0..10 {
            assert!(first.contains(&v));
        }
        let st = a.state();
        let mut b = BatchSampler::new(99, 10);
        b.set_state(&st).unwrap();
        assert_eq!(a.next_batch(50), b.next_batch(50));
        assert!(b.set_state(&[1, 2]).is_err());
    }
}
