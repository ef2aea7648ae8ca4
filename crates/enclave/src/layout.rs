//! The layout of a Plinius pool: pure data code, used by the enclave and by
//! the host (sizing a new pool, `plinius inspect`, the dataset import).
//!
//! A pool is a `ptm` pool `[header][main N][back N][raw R]`:
//!
//! - main (twinned, transactional), root slot [`SUPERBLOCK_ROOT`] → the
//!   [`Superblock`] (plain, not secret): magic, layout version, mirror mode,
//!   model fingerprint, seed, sealed image length, and the places of the
//!   sealed cfg, the platform-sealed keys, the dataset area, the `ab` area and
//!   the `romulus` mirror directory. In `romulus` mode main also holds the
//!   [`MirrorDirectory`] and the mirror image.
//! - raw (single copy): `[dataset area][ab area (ab mode only)]`.
//!   - dataset area: an import header ([`IMPORT_HEADER_LEN`] bytes; copied
//!     bytes and state each on their own cache line) then the owner's sealed
//!     dataset file verbatim. Written once by the host; training refuses an
//!     area whose state is not [`STATE_COMPLETE`]. Its layout, reader and
//!     write protocol are [`crate::dataset_area`]'s.
//!   - ab area: a selector page (one u64 written with a single 8-byte store:
//!     see [`selector_word`]), then slot 0 and slot 1 ([`PoolPlan::ab_slot_len`]
//!     bytes each, page aligned), each holding a whole mirror image.
//!
//! Every decoder checks magic, version, checksum and bounds and returns a
//! clear [`EnclaveError::Layout`] for a foreign or corrupt structure.

use crate::error::{EnclaveError, Result};
use ptm::{PmBackend, Pool};

/// Version of this layout (superblock, directory, areas).
pub const LAYOUT_VERSION: u32 = 1;
/// Root slot of main that points to the superblock.
pub const SUPERBLOCK_ROOT: usize = 0;
/// Magic at the start of the superblock.
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"PLSUPER\0";
/// Encoded length of the superblock.
pub const SUPERBLOCK_LEN: usize = 256;
/// Magic at the start of the romulus mirror directory.
pub const DIRECTORY_MAGIC: [u8; 8] = *b"PLMIRDIR";
/// Encoded length of the romulus mirror directory.
pub const DIRECTORY_LEN: usize = 64;
/// Page granularity of raw-region areas and slots.
pub const PAGE: u64 = 4096;
/// Bytes of main reserved for the superblock, the directory, the
/// platform-sealed keys and the allocator's own metadata.
pub const MAIN_FIXED: u64 = 64 << 10;
/// Largest platform-sealed key blob the pool stores.
pub const KEYS_BLOB_MAX: usize = 16 << 10;
/// Bytes of the `ab` area before slot 0 (the selector page).
pub const AB_SELECTOR_LEN: u64 = PAGE;

// The dataset area's layout and protocol live in [`crate::dataset_area`];
// its constants, header and reader stay reachable from here.
pub use crate::dataset_area::{
    IMPORT_COPIED_OFF, IMPORT_HEADER_LEN, IMPORT_MAGIC, IMPORT_STATE_OFF, IMPORT_VERSION,
    ImportHeader, STATE_COMPLETE, STATE_IMPORTING, complete_dataset,
};

/// How the model is mirrored after training iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MirrorMode {
    /// The paper's: one Romulus write transaction per mirror-out (image in
    /// main, twin-copied to back at commit).
    Romulus,
    /// Two image slots in the raw region and a persistent selector: seal into
    /// the idle slot, persist, fence, flip the selector (no twin copy).
    Ab,
    /// The paper's baseline: the sealed image is handed to the host, which
    /// writes a checkpoint file (write, fsync, rename, fsync the directory).
    Ssd,
}

impl MirrorMode {
    /// All modes.
    pub const ALL: [MirrorMode; 3] = [MirrorMode::Romulus, MirrorMode::Ab, MirrorMode::Ssd];

    /// `romulus`, `ab` or `ssd`.
    pub fn name(self) -> &'static str {
        match self {
            MirrorMode::Romulus => "romulus",
            MirrorMode::Ab => "ab",
            MirrorMode::Ssd => "ssd",
        }
    }

    fn code(self) -> u32 {
        match self {
            MirrorMode::Romulus => 1,
            MirrorMode::Ab => 2,
            MirrorMode::Ssd => 3,
        }
    }

    fn from_code(c: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == c)
    }
}

impl std::fmt::Display for MirrorMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MirrorMode {
    type Err = EnclaveError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                EnclaveError::Usage(format!(
                    "unknown mirror mode {s:?} (expected romulus, ab or ssd)"
                ))
            })
    }
}

/// A byte range `[off, off + len)` of main or of the raw region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// Offset (from the start of main, or of the raw region).
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Region {
    /// End offset, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.off.checked_add(self.len)
    }

    /// Whether the region lies inside `[0, limit)`.
    pub fn fits(&self, limit: u64) -> bool {
        self.end().is_some_and(|e| e <= limit)
    }

    /// The region's bytes of `bytes`, or `None` if it does not fit.
    pub fn slice<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        if self.fits(bytes.len() as u64) {
            Some(&bytes[self.off as usize..(self.off + self.len) as usize])
        } else {
            None
        }
    }
}

fn round_up(x: u64, g: u64) -> u64 {
    x.div_ceil(g) * g
}

/// The sizes and places of a new pool, from the mirror image length, the
/// sealed dataset file length and the cfg length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPlan {
    /// The mirror mode the pool is for.
    pub mode: MirrorMode,
    /// Bytes of main to ask `ptm` for.
    pub main_len: u64,
    /// Bytes of the raw region to ask `ptm` for.
    pub raw_len: u64,
    /// Bytes of one sealed mirror image.
    pub image_len: u64,
    /// The dataset area in the raw region (import header + file), at offset 0.
    pub dataset_area: Region,
    /// The `ab` area in the raw region (empty unless `ab` mode).
    pub ab_area: Region,
    /// Bytes of one `ab` slot (the image length rounded up to a page; 0
    /// unless `ab` mode).
    pub ab_slot_len: u64,
}

impl PoolPlan {
    /// The `ptm` pool size to create.
    pub fn pool_size(&self) -> ptm::PoolSize {
        ptm::PoolSize {
            main: self.main_len,
            raw: self.raw_len,
        }
    }
}

/// Sealed length of the cfg text record in main.
pub fn sealed_cfg_len(cfg_len: usize) -> u64 {
    seal::chunked_sealed_len(cfg_len) as u64
}

/// Plans a pool for `mode`: `image_len` is the sealed mirror image length
/// (see [`crate::Enclave::image_len`]), `dataset_file_len` the length of the
/// owner's sealed dataset file (0 for none), `cfg_len` the cfg text length.
pub fn plan(mode: MirrorMode, image_len: u64, dataset_file_len: u64, cfg_len: usize) -> PoolPlan {
    // Each allocation costs its payload rounded to 64 plus a 64-byte header.
    let block = |n: u64| round_up(n, 64) + 64;
    let mut main = MAIN_FIXED + block(sealed_cfg_len(cfg_len));
    if mode == MirrorMode::Romulus {
        main += block(image_len);
    }
    let dataset_area = Region {
        off: 0,
        len: round_up(IMPORT_HEADER_LEN + dataset_file_len, PAGE),
    };
    let (ab_area, ab_slot_len) = if mode == MirrorMode::Ab {
        let slot = round_up(image_len.max(1), PAGE);
        (
            Region {
                off: dataset_area.len,
                len: AB_SELECTOR_LEN + 2 * slot,
            },
            slot,
        )
    } else {
        (
            Region {
                off: dataset_area.len,
                len: 0,
            },
            0,
        )
    };
    PoolPlan {
        mode,
        main_len: round_up(main, PAGE),
        raw_len: dataset_area.len + ab_area.len,
        image_len,
        dataset_area,
        ab_area,
        ab_slot_len,
    }
}

/// The pool's superblock: where everything is. Plain (it holds no secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Layout version ([`LAYOUT_VERSION`]).
    pub version: u32,
    /// The mirror mode the pool was created with.
    pub mode: MirrorMode,
    /// The model fingerprint (SHA-256 of the canonical cfg).
    pub fingerprint: [u8; 32],
    /// The seed the training run was created with (weights, dropout, sampler).
    pub seed: u64,
    /// Bytes of one sealed mirror image.
    pub image_len: u64,
    /// The cfg text, sealed with the mirror key (in main).
    pub sealed_cfg: Region,
    /// The key bundle sealed to the platform for this enclave (in main).
    pub sealed_keys: Region,
    /// The dataset area (in raw).
    pub dataset_area: Region,
    /// The `ab` area (in raw; empty unless `ab` mode).
    pub ab_area: Region,
    /// Bytes of one `ab` slot.
    pub ab_slot_len: u64,
    /// Offset in main of the [`MirrorDirectory`] (`romulus` mode; else 0).
    pub directory: u64,
}

const SB_WHAT: &str = "pool superblock";
/// Magic and version of the superblock.
const SUPERBLOCK_HEADER: wire::Header = wire::Header {
    magic: &SUPERBLOCK_MAGIC,
    width: wire::VersionWidth::U32,
    version: LAYOUT_VERSION,
    min_len: SUPERBLOCK_LEN,
    foreign: "bad magic: root slot 0 does not point to a Plinius superblock (not a Plinius \
             pool, or corrupted)",
    label: "layout version",
};

impl Superblock {
    /// Encodes the superblock (little endian, checksummed).
    pub fn encode(&self) -> [u8; SUPERBLOCK_LEN] {
        let mut w = wire::Writer::with_capacity(SUPERBLOCK_LEN);
        SUPERBLOCK_HEADER.write(&mut w);
        w.u32(self.mode.code());
        w.bytes(&self.fingerprint);
        for word in [
            self.seed,
            self.image_len,
            self.sealed_cfg.off,
            self.sealed_cfg.len,
            self.sealed_keys.off,
            self.sealed_keys.len,
            self.dataset_area.off,
            self.dataset_area.len,
            self.ab_area.off,
            self.ab_area.len,
            self.ab_slot_len,
            self.directory,
        ] {
            w.u64(word);
        }
        w.pad_to(SUPERBLOCK_LEN - 8);
        w.checksum();
        w.into_array()
            .expect("the superblock is SUPERBLOCK_LEN bytes")
    }

    /// Decodes and checks a superblock: magic (else "not a Plinius pool"),
    /// version, checksum, mode.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < SUPERBLOCK_LEN {
            return Err(EnclaveError::layout(
                SB_WHAT,
                format!("{} bytes, expected {SUPERBLOCK_LEN}", b.len()),
            ));
        }
        let mut r = SUPERBLOCK_HEADER.check(b, SB_WHAT)?;
        if !wire::checksum_ok(b, SUPERBLOCK_LEN - 8) {
            return Err(EnclaveError::layout(
                SB_WHAT,
                "checksum mismatch (corrupted)",
            ));
        }
        let code = r.u32("mirror mode")?;
        let mode = MirrorMode::from_code(code).ok_or_else(|| {
            EnclaveError::layout(SB_WHAT, format!("unknown mirror mode code {code}"))
        })?;
        let fingerprint = r.array("model fingerprint")?;
        let mut w = [0u64; 12];
        for x in &mut w {
            *x = r.u64("region word")?;
        }
        let region = |i: usize| Region {
            off: w[i],
            len: w[i + 1],
        };
        Ok(Superblock {
            version: LAYOUT_VERSION,
            mode,
            fingerprint,
            seed: w[0],
            image_len: w[1],
            sealed_cfg: region(2),
            sealed_keys: region(4),
            dataset_area: region(6),
            ab_area: region(8),
            ab_slot_len: w[10],
            directory: w[11],
        })
    }

    /// Checks every region against the pool's sizes (`main_len`, `raw_len`).
    pub fn check_bounds(&self, main_len: u64, raw_len: u64) -> Result<()> {
        let bad = |what: &str, r: Region, limit: u64| {
            EnclaveError::layout(
                SB_WHAT,
                format!(
                    "{what} [{}, +{}) lies outside the pool's {limit} bytes (corrupted, or \
                     the pool file was truncated)",
                    r.off, r.len
                ),
            )
        };
        for (what, r) in [
            ("sealed cfg", self.sealed_cfg),
            ("sealed keys", self.sealed_keys),
        ] {
            if !r.fits(main_len) {
                return Err(bad(what, r, main_len));
            }
        }
        for (what, r) in [
            ("dataset area", self.dataset_area),
            ("ab area", self.ab_area),
        ] {
            if !r.fits(raw_len) {
                return Err(bad(what, r, raw_len));
            }
        }
        if self.mode == MirrorMode::Ab {
            let need = self
                .ab_slot_len
                .checked_mul(2)
                .and_then(|s| s.checked_add(AB_SELECTOR_LEN));
            if need != Some(self.ab_area.len) || self.ab_slot_len < self.image_len {
                return Err(EnclaveError::layout(
                    SB_WHAT,
                    format!(
                        "ab area of {} bytes does not hold two slots of {} bytes for images of {}",
                        self.ab_area.len, self.ab_slot_len, self.image_len
                    ),
                ));
            }
        }
        if self.mode == MirrorMode::Romulus
            && !(Region {
                off: self.directory,
                len: DIRECTORY_LEN as u64,
            })
            .fits(main_len)
        {
            return Err(EnclaveError::layout(
                SB_WHAT,
                format!("mirror directory offset {} outside main", self.directory),
            ));
        }
        Ok(())
    }

    /// The region of `ab` slot `slot` (0 or 1) in the raw region.
    pub fn ab_slot(&self, slot: u64) -> Region {
        Region {
            off: self.ab_area.off + AB_SELECTOR_LEN + slot * self.ab_slot_len,
            len: self.image_len,
        }
    }

    /// The model fingerprint in hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// Reads the superblock of `pool`: `None` for a pool with no superblock yet
/// (root slot 0 unset), an error for a foreign or corrupt one.
pub fn read_superblock<B: PmBackend>(pool: &Pool<B>) -> Result<Option<Superblock>> {
    let sb = pool.read(|v| -> Result<Option<Superblock>> {
        let off = v.root(SUPERBLOCK_ROOT)?;
        if off == 0 {
            return Ok(None);
        }
        let len = v.alloc_len(off).map_err(|e| {
            EnclaveError::layout(
                SB_WHAT,
                format!("root slot 0 points to offset {off}, not an allocated block ({e})"),
            )
        })?;
        if len < SUPERBLOCK_LEN as u64 {
            return Err(EnclaveError::layout(
                SB_WHAT,
                format!("block of {len} bytes at root slot 0 is too small (not a Plinius pool)"),
            ));
        }
        Superblock::decode(v.bytes(off, SUPERBLOCK_LEN)?).map(Some)
    })?;
    if let Some(sb) = &sb {
        sb.check_bounds(pool.main_len(), pool.raw_len())?;
    }
    Ok(sb)
}

/// The romulus mode's directory in main: which iteration the image in main
/// holds, and where the image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorDirectory {
    /// Iteration of the image.
    pub iteration: u64,
    /// The image in main.
    pub image: Region,
}

const DIR_WHAT: &str = "romulus mirror directory";

impl MirrorDirectory {
    /// Encodes the directory.
    pub fn encode(&self) -> [u8; DIRECTORY_LEN] {
        let mut b = [0u8; DIRECTORY_LEN];
        b[..8].copy_from_slice(&DIRECTORY_MAGIC);
        b[8..16].copy_from_slice(&self.iteration.to_le_bytes());
        b[16..24].copy_from_slice(&self.image.off.to_le_bytes());
        b[24..32].copy_from_slice(&self.image.len.to_le_bytes());
        b
    }

    /// Decodes the directory, checking its magic and that the image lies in
    /// main (`main_len`) with the superblock's image length.
    pub fn decode(b: &[u8], main_len: u64, image_len: u64) -> Result<Self> {
        if b.len() < DIRECTORY_LEN || b[..8] != DIRECTORY_MAGIC {
            return Err(EnclaveError::layout(DIR_WHAT, "bad magic (corrupted)"));
        }
        let w = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let d = MirrorDirectory {
            iteration: w(8),
            image: Region {
                off: w(16),
                len: w(24),
            },
        };
        if !d.image.fits(main_len) || d.image.len != image_len {
            return Err(EnclaveError::layout(
                DIR_WHAT,
                format!(
                    "image [{}, +{}) does not fit main ({main_len} bytes) or is not {image_len} bytes",
                    d.image.off, d.image.len
                ),
            ));
        }
        Ok(d)
    }
}

/// Reads the romulus directory of a pool whose superblock is `sb`.
pub fn read_directory<B: PmBackend>(pool: &Pool<B>, sb: &Superblock) -> Result<MirrorDirectory> {
    pool.read(|v| {
        MirrorDirectory::decode(
            v.bytes(sb.directory, DIRECTORY_LEN)?,
            pool.main_len(),
            sb.image_len,
        )
    })
}

/// The `ab` selector word for `slot` holding `iteration`: bit 0 the slot,
/// bit 1 set (a written selector is never 0), the iteration above.
pub fn selector_word(slot: u64, iteration: u64) -> u64 {
    (iteration << 2) | 0b10 | (slot & 1)
}

/// Decodes an `ab` selector word into `(slot, iteration)`.
pub fn decode_selector(word: u64) -> Result<(u64, u64)> {
    if word & 0b10 == 0 {
        return Err(EnclaveError::layout(
            "ab slot selector",
            format!("{word:#018x} was never written (or is corrupted)"),
        ));
    }
    Ok((word & 1, word >> 2))
}

/// Reads the `ab` selector of a pool whose superblock is `sb`.
pub fn read_selector(raw: &[u8], sb: &Superblock) -> Result<(u64, u64)> {
    let word = usize::try_from(sb.ab_area.off)
        .ok()
        .and_then(|o| raw.get(o..o.checked_add(8)?))
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| EnclaveError::layout("ab slot selector", "outside the raw region"))?;
    decode_selector(word)
}

/// The iteration of the mirror a pool holds (`romulus`: the directory;
/// `ab`: the selector; `ssd`: `None`, the checkpoint file tells).
pub fn mirror_iteration<B: PmBackend>(pool: &Pool<B>, sb: &Superblock) -> Result<Option<u64>> {
    match sb.mode {
        MirrorMode::Romulus => Ok(Some(read_directory(pool, sb)?.iteration)),
        MirrorMode::Ab => Ok(Some(read_selector(pool.raw(), sb)?.1)),
        MirrorMode::Ssd => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> Superblock {
        let p = plan(MirrorMode::Ab, 10_000, 50_000, 300);
        Superblock {
            version: LAYOUT_VERSION,
            mode: MirrorMode::Ab,
            fingerprint: [7; 32],
            seed: 42,
            image_len: p.image_len,
            sealed_cfg: Region {
                off: 4096,
                len: 328,
            },
            sealed_keys: Region {
                off: 8192,
                len: 200,
            },
            dataset_area: p.dataset_area,
            ab_area: p.ab_area,
            ab_slot_len: p.ab_slot_len,
            directory: 0,
        }
    }

    #[test]
    fn plan_sizes_hold_every_area() {
        for mode in MirrorMode::ALL {
            let p = plan(mode, 123_457, 1_000_000, 500);
            assert_eq!(p.main_len % PAGE, 0);
            assert_eq!(p.raw_len % PAGE, 0);
            assert!(p.dataset_area.len >= IMPORT_HEADER_LEN + 1_000_000);
            assert_eq!(p.dataset_area.off, 0);
            assert!(p.dataset_area.end().unwrap() <= p.ab_area.off);
            assert!(p.ab_area.end().unwrap() <= p.raw_len);
            match mode {
                MirrorMode::Romulus => assert!(p.main_len >= MAIN_FIXED + 123_457),
                MirrorMode::Ab => {
                    assert!(p.ab_slot_len >= 123_457);
                    assert_eq!(p.ab_area.len, AB_SELECTOR_LEN + 2 * p.ab_slot_len);
                    assert!(p.main_len < MAIN_FIXED + 123_457);
                }
                MirrorMode::Ssd => assert_eq!(p.ab_area.len, 0),
            }
        }
    }

    #[test]
    fn superblock_round_trip_and_every_flipped_byte_is_caught() {
        let s = sb();
        let b = s.encode();
        assert_eq!(Superblock::decode(&b).unwrap(), s);
        for i in 0..SUPERBLOCK_LEN {
            let mut bad = b;
            bad[i] ^= 0x20;
            assert!(Superblock::decode(&bad).is_err(), "byte {i}");
        }
        let e = Superblock::decode(&[0u8; SUPERBLOCK_LEN]).unwrap_err();
        assert!(e.to_string().contains("not a Plinius pool"), "{e}");
        let e = Superblock::decode(&b[..100]).unwrap_err();
        assert!(e.to_string().contains("100 bytes"), "{e}");
        s.check_bounds(1 << 20, s.ab_area.end().unwrap()).unwrap();
        let e = s
            .check_bounds(1 << 20, s.ab_area.end().unwrap() - 1)
            .unwrap_err();
        assert!(e.to_string().contains("ab area"), "{e}");
        // Crafted offsets and lengths near 2^64 are errors, not overflows.
        let mut crafted = s;
        crafted.ab_area = Region {
            off: u64::MAX - 4,
            len: 8,
        };
        let e = crafted.check_bounds(1 << 20, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("ab area"), "{e}");
        let e = read_selector(&[0u8; 64], &crafted).unwrap_err();
        assert!(e.to_string().contains("outside the raw region"), "{e}");
        crafted.mode = MirrorMode::Ab;
        crafted.ab_area = Region { off: 0, len: 64 };
        crafted.ab_slot_len = u64::MAX;
        let e = crafted.check_bounds(1 << 20, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("two slots"), "{e}");
        crafted.mode = MirrorMode::Romulus;
        crafted.ab_slot_len = 0;
        crafted.directory = u64::MAX - 1;
        let e = crafted.check_bounds(1 << 20, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("mirror directory"), "{e}");
    }

    #[test]
    fn selector_and_modes() {
        for (slot, it) in [(0, 0), (1, 0), (0, 7), (1, 1 << 40)] {
            assert_eq!(
                decode_selector(selector_word(slot, it)).unwrap(),
                (slot, it)
            );
        }
        assert!(decode_selector(0).is_err());
        for m in MirrorMode::ALL {
            assert_eq!(m.name().parse::<MirrorMode>().unwrap(), m);
        }
        assert!("disk".parse::<MirrorMode>().is_err());
    }
}
