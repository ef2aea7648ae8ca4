//! Random number generators: weight initialisation and dropout, both ChaCha8
//! (`rand_chacha`), and the dropout generator's serialisable state.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Length of a serialised ChaCha8 state: seed (32) + stream (8) + word position (16).
pub const RNG_STATE_LEN: usize = 56;

/// Error restoring a generator state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RngStateError {
    /// The byte string does not have the length of a serialised state.
    #[error("RNG state has {0} bytes, expected {RNG_STATE_LEN}")]
    BadLength(usize),
}

/// Serialises a ChaCha8 generator's position.
pub(crate) fn chacha_state(rng: &ChaCha8Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(RNG_STATE_LEN);
    out.extend_from_slice(&rng.get_seed());
    out.extend_from_slice(&rng.get_stream().to_le_bytes());
    out.extend_from_slice(&rng.get_word_pos().to_le_bytes());
    out
}

/// Rebuilds a ChaCha8 generator from [`chacha_state`]'s bytes.
pub(crate) fn chacha_from_state(bytes: &[u8]) -> Result<ChaCha8Rng, RngStateError> {
    if bytes.len() != RNG_STATE_LEN {
        return Err(RngStateError::BadLength(bytes.len()));
    }
    let seed: [u8; 32] = bytes[..32].try_into().expect("length checked");
    let stream = u64::from_le_bytes(bytes[32..40].try_into().expect("length checked"));
    let pos = u128::from_le_bytes(bytes[40..56].try_into().expect("length checked"));
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(stream);
    rng.set_word_pos(pos);
    Ok(rng)
}

/// Derives a 32-byte seed from a user seed and a purpose tag.
pub(crate) fn derive_seed(seed: u64, tag: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&tag.to_le_bytes());
    s[16..].copy_from_slice(b"plinius-nn-rng\0\0");
    s
}

/// The generator of initial weights.
pub(crate) struct InitRng(ChaCha8Rng);

impl InitRng {
    pub fn new(seed: u64) -> Self {
        InitRng(ChaCha8Rng::from_seed(derive_seed(seed, 1)))
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.0.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Standard normal (Box-Muller, as Darknet's `rand_normal`).
    pub fn normal(&mut self) -> f32 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

/// The dropout generator: one `u32` per dropped-or-kept element.
pub(crate) struct DropoutRng(pub(crate) ChaCha8Rng);

impl DropoutRng {
    pub fn new(seed: u64) -> Self {
        DropoutRng(ChaCha8Rng::from_seed(derive_seed(seed, 2)))
    }

    /// Fills `out` with uniform `u32`s.
    pub fn fill(&mut self, out: &mut [u32]) {
        for chunk in out.chunks_mut(1024) {
            let mut bytes = [0u8; 4096];
            let b = &mut bytes[..chunk.len() * 4];
            self.0.fill_bytes(b);
            for (v, c) in chunk.iter_mut().zip(b.chunks_exact(4)) {
                *v = u32::from_le_bytes(c.try_into().expect("4 bytes"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip_continues_the_stream() {
        let mut a = DropoutRng::new(7);
        let mut buf = vec![0u32; 37];
        a.fill(&mut buf);
        let state = chacha_state(&a.0);
        let mut b = DropoutRng(chacha_from_state(&state).unwrap());
        let (mut x, mut y) = (vec![0u32; 100], vec![0u32; 100]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert_eq!(
            chacha_from_state(&state[..10]).unwrap_err(),
            RngStateError::BadLength(10)
        );
    }
}
