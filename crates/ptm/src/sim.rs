//! A simulated persistent memory for crash tests.
//!
//! The pool reads and writes the *cache* (ordinary memory). The *persisted image*
//! is kept apart: a line reaches it only when it is flushed and then fenced, or,
//! adversarially, whenever the simulated cache evicts it ([`Eviction`]). The
//! simulator can crash at the n-th fence: it then freezes the persisted image as
//! it would be found after a power cut at that moment (flushed lines not yet
//! fenced, and dirty lines, each persisted or not according to the eviction
//! choice) and ignores every later flush and fence, while the program carries on
//! in volatile memory. Open a new pool over [`SimPm::from_image`] of the crash
//! image to check recovery.
//!
//! Lines are persisted whole (64 bytes), so an aligned 8-byte store is atomic.
//!
//! [`SimPm::with_eadr`] simulates a platform whose caches are persistent
//! (eADR): every store is persistent once made, and the back-end reports the
//! `eadr` strategy (the pool then issues no line flushes). A crash keeps the
//! cache as it was at the last completed fence plus, by the eviction choice,
//! any of the lines stored since: every point between two fences (and more)
//! is a possible crash point.
//!
//! Crash-testing a transaction at every fence:
//!
//! ```
//! use ptm::{Eviction, Pool, PoolSize, PtmError, SimPm};
//! let size = PoolSize { main: 64 << 10, raw: 4096 };
//! let pool = Pool::format(SimPm::new(4096 + 2 * (64 << 10) + 4096), size)?;
//! let base = pool.into_backend().persisted_image();
//! let tx = |pool: &Pool<SimPm>| {
//!     pool.write(|tx| {
//!         let a = tx.alloc(128)?;
//!         tx.bytes_mut(a, 128)?.fill(7);
//!         tx.set_root(0, a)
//!     })
//! };
//! for k in 1..=4 {
//!     let pool = Pool::from_backend(SimPm::from_image(&base))?;
//!     pool.backend().set_eviction(Eviction::Random { seed: k, percent: 50 });
//!     pool.backend().crash_at_fence(k);
//!     tx(&pool)?; // runs on in volatile memory; PM froze at fence k
//!     let image = pool.backend().persisted_image();
//!     let recovered = Pool::from_backend(SimPm::from_image(&image))?;
//!     let root = recovered.read(|v| v.root(0))?;
//!     assert!(root == 0 || recovered.read(|v| v.bytes(root, 128).map(|b| b == [7; 128]))?);
//! }
//! # Ok::<(), PtmError>(())
//! ```

use crate::backend::{AlignedBuf, PmBackend};
use crate::flush::{FlushStrategy, LINE};
use std::path::Path;
use std::sync::Mutex;

/// What the simulated cache does with dirty lines that were not flushed and
/// fenced, and with flushed lines whose fence has not completed at a crash.
/// With eADR ([`SimPm::with_eadr`]) it decides, at a crash, which of the lines
/// stored since the last fence persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Nothing is persisted unless flushed and fenced (the friendliest cache).
    None,
    /// Every dirty line is persisted at every fence and at the crash (the cache
    /// writes through: all stores reach PM as early as possible).
    All,
    /// At every fence and at the crash, each dirty line (and each flushed line
    /// whose fence is interrupted by the crash) is persisted with probability
    /// `percent`/100, drawn from a generator seeded with `seed`.
    Random {
        /// Seed of the choices.
        seed: u64,
        /// Probability in percent (0..=100).
        percent: u8,
    },
}

struct SimState {
    persisted: Vec<u8>,
    /// Flushed lines waiting for a fence: (line index, content at flush time).
    pending: Vec<(usize, [u8; LINE])>,
    fences: u64,
    crash_at: Option<u64>,
    crash_image: Option<Vec<u8>>,
    eviction: Eviction,
    rng: u64,
    /// Persistent caches: every store persists.
    eadr: bool,
    /// With eADR: the cache as it was at the last completed fence.
    at_fence: Vec<u8>,
}

impl SimState {
    fn choose(&mut self) -> bool {
        match self.eviction {
            Eviction::None => false,
            Eviction::All => true,
            Eviction::Random { percent, .. } => {
                // splitmix64
                self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.rng;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z % 100) < u64::from(percent)
            }
        }
    }
}

/// The simulated PM back-end (public so that other crates can crash-test their
/// own transactions).
pub struct SimPm {
    cache: AlignedBuf,
    state: Mutex<SimState>,
}

impl SimPm {
    /// `len` bytes, all zero in the cache and in the persisted image.
    pub fn new(len: usize) -> Self {
        SimPm {
            cache: AlignedBuf::zeroed(len),
            state: Mutex::new(SimState {
                persisted: vec![0; len],
                pending: Vec::new(),
                fences: 0,
                crash_at: None,
                crash_image: None,
                eviction: Eviction::None,
                rng: 0,
                eadr: false,
                at_fence: Vec::new(),
            }),
        }
    }

    /// A simulated PM whose cache and persisted image both hold `image` (e.g. a
    /// crash image, to be recovered).
    pub fn from_image(image: &[u8]) -> Self {
        let mut sim = SimPm::new(image.len());
        sim.cache.as_mut_slice().copy_from_slice(image);
        sim.lock().persisted.copy_from_slice(image);
        sim
    }

    /// The same simulated PM with persistent caches (eADR): see the module
    /// documentation. Set it before a pool is opened over it.
    pub fn with_eadr(self) -> Self {
        let now = self.cache_image();
        {
            let mut s = self.lock();
            s.eadr = true;
            s.at_fence = now;
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets how the cache evicts dirty lines (default [`Eviction::None`]).
    pub fn set_eviction(&self, eviction: Eviction) {
        let mut s = self.lock();
        s.eviction = eviction;
        if let Eviction::Random { seed, .. } = eviction {
            s.rng = seed;
        }
    }

    /// Arms a crash at the `n`-th fence from now (`n` >= 1): that fence does not
    /// complete, and the persisted image freezes.
    pub fn crash_at_fence(&self, n: u64) {
        let mut s = self.lock();
        s.crash_at = Some(s.fences + n.max(1));
    }

    /// Disarms a pending crash.
    pub fn disarm(&self) {
        self.lock().crash_at = None;
    }

    /// Crashes now (if not crashed yet): the image freezes with the eviction
    /// choices applied to the lines not yet persisted.
    pub fn crash_now(&self) {
        let mut s = self.lock();
        if s.crash_image.is_none() {
            self.freeze(&mut s);
        }
    }

    /// How many fences completed or were attempted so far.
    pub fn fences(&self) -> u64 {
        self.lock().fences
    }

    /// Whether the simulated machine has crashed.
    pub fn crashed(&self) -> bool {
        self.lock().crash_image.is_some()
    }

    /// What PM holds: the frozen crash image after a crash, else the lines
    /// persisted so far (as if the power went off now with nothing evicted;
    /// with eADR, the cache).
    pub fn persisted_image(&self) -> Vec<u8> {
        let s = self.lock();
        match &s.crash_image {
            Some(img) => img.clone(),
            None if s.eadr => self.cache_image(),
            None => s.persisted.clone(),
        }
    }

    /// The volatile view (what the program sees).
    pub fn cache_image(&self) -> Vec<u8> {
        self.cache.as_slice().to_vec()
    }

    fn cache_line(&self, line: usize) -> [u8; LINE] {
        let mut l = [0u8; LINE];
        let off = line * LINE;
        let n = LINE.min(self.cache.len() - off);
        // SAFETY: off < len; we copy at most to the end of the buffer. The pool
        // holds no live reference into the lines while it flushes or fences.
        unsafe { std::ptr::copy_nonoverlapping(self.cache.ptr().add(off), l.as_mut_ptr(), n) };
        l
    }

    fn evict_dirty(&self, s: &mut SimState, img: &mut [u8]) {
        let len = self.cache.len();
        let lines = len.div_ceil(LINE);
        for line in 0..lines {
            let off = line * LINE;
            let end = (off + LINE).min(len);
            let cur = self.cache_line(line);
            if cur[..end - off] != img[off..end] && s.choose() {
                img[off..end].copy_from_slice(&cur[..end - off]);
            }
        }
    }

    fn freeze(&self, s: &mut SimState) {
        if s.eadr {
            // A crash somewhere after the last fence: every store before it,
            // and any of the lines stored since (the eviction choice).
            s.pending.clear();
            let mut img = std::mem::take(&mut s.at_fence);
            self.evict_dirty(s, &mut img);
            s.crash_image = Some(img);
            return;
        }
        let mut img = s.persisted.clone();
        let pending = std::mem::take(&mut s.pending);
        for (line, data) in &pending {
            if s.choose() {
                let off = line * LINE;
                let end = (off + LINE).min(img.len());
                img[off..end].copy_from_slice(&data[..end - off]);
            }
        }
        if s.eviction != Eviction::None {
            self.evict_dirty(s, &mut img);
        }
        s.crash_image = Some(img);
    }
}

impl PmBackend for SimPm {
    fn as_ptr(&self) -> *mut u8 {
        self.cache.ptr()
    }
    fn len(&self) -> usize {
        self.cache.len()
    }
    fn flush(&self, off: usize, len: usize) {
        let end = off.saturating_add(len).min(self.cache.len());
        if off >= end {
            return;
        }
        let mut s = self.lock();
        if s.crash_image.is_some() {
            return;
        }
        for line in off / LINE..end.div_ceil(LINE) {
            let data = self.cache_line(line);
            s.pending.push((line, data));
        }
    }
    fn fence(&self) {
        let mut s = self.lock();
        if s.crash_image.is_some() {
            return;
        }
        s.fences += 1;
        if s.crash_at == Some(s.fences) {
            self.freeze(&mut s);
            return;
        }
        if s.eadr {
            // Everything stored so far is persistent.
            s.pending.clear();
            s.at_fence = self.cache_image();
            return;
        }
        let pending = std::mem::take(&mut s.pending);
        for (line, data) in &pending {
            let off = line * LINE;
            let end = (off + LINE).min(s.persisted.len());
            s.persisted[off..end].copy_from_slice(&data[..end - off]);
        }
        if s.eviction != Eviction::None {
            let mut img = std::mem::take(&mut s.persisted);
            self.evict_dirty(&mut s, &mut img);
            s.persisted = img;
        }
    }
    fn strategy(&self) -> FlushStrategy {
        if self.lock().eadr {
            FlushStrategy::Eadr
        } else {
            FlushStrategy::Clwb
        }
    }
    fn name(&self) -> &Path {
        Path::new("<simulated PM>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(sim: &SimPm, off: usize, v: u8) {
        // SAFETY: test-only direct store into the simulated cache, in bounds.
        unsafe { *sim.as_ptr().add(off) = v };
    }

    #[test]
    fn a_line_persists_only_when_flushed_and_fenced() {
        let sim = SimPm::new(4096);
        write(&sim, 10, 1);
        write(&sim, 200, 2);
        assert_eq!(sim.persisted_image()[10], 0);
        sim.flush(0, 64);
        assert_eq!(sim.persisted_image()[10], 0, "flushed but not fenced");
        sim.fence();
        let img = sim.persisted_image();
        assert_eq!(img[10], 1);
        assert_eq!(img[200], 0, "never flushed");
    }

    #[test]
    fn crash_at_fence_freezes_the_image() {
        let sim = SimPm::new(4096);
        sim.crash_at_fence(2);
        write(&sim, 0, 1);
        sim.flush(0, 1);
        sim.fence(); // 1: completes
        write(&sim, 64, 2);
        sim.flush(64, 1);
        sim.fence(); // 2: crash, the line is not persisted (Eviction::None)
        write(&sim, 128, 3);
        sim.flush(128, 1);
        sim.fence();
        assert!(sim.crashed());
        let img = sim.persisted_image();
        assert_eq!((img[0], img[64], img[128]), (1, 0, 0));
    }

    #[test]
    fn eviction_all_persists_dirty_lines_at_the_crash() {
        let sim = SimPm::new(4096);
        sim.set_eviction(Eviction::All);
        write(&sim, 300, 9);
        sim.crash_now();
        assert_eq!(sim.persisted_image()[300], 9);
    }

    #[test]
    fn random_eviction_persists_some_dirty_lines() {
        let sim = SimPm::new(64 * 100);
        sim.set_eviction(Eviction::Random {
            seed: 1,
            percent: 50,
        });
        for i in 0..100 {
            write(&sim, i * 64, 1);
        }
        sim.crash_now();
        let img = sim.persisted_image();
        let n = (0..100).filter(|i| img[i * 64] == 1).count();
        assert!(n > 10 && n < 90, "{n} of 100 lines evicted");
    }
}
