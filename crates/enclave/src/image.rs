//! The mirror image: one format for the `romulus` image in main, the `ab`
//! slots and the `ssd` checkpoint.
//!
//! ```text
//! offset  field
//!      0  magic "PLMIRROR"
//!      8  image format version (u32 LE)
//!     12  record count (u32 LE): 1 meta + one per state buffer
//!     16  iteration (u64 LE)
//!     24  image length (u64 LE)
//!     32  model fingerprint (32 bytes)
//!     64  record "meta" (one sealed record)
//!         one chunked sealed record per state buffer, in
//!         `nn::Network::state_buffers` order, back to back
//! ```
//!
//! The header is plain; every record is sealed with the mirror key and
//! associated data `"plinius/mirror/v1\0" ‖ version ‖ fingerprint ‖ name
//! length ‖ name ‖ iteration` (chunks add their index and count), so a record
//! flipped, moved, swapped, truncated, or copied from another iteration or
//! model fails to open, and the error names it. A whole consistent older
//! image can still be replayed by whoever controls the storage: detecting that
//! needs a monotonic counter, which this format does not have.
//!
//! The meta record holds iteration, `seen`, the last and running losses, the
//! run's seed, the network's dropout RNG state, the batch sampler's state
//! (the data cursor) with the dataset it ranges over, and the buffer names
//! and lengths. Buffers are opened straight into the network's memory.

use crate::error::{EnclaveError, Result};
use nn::{Network, RNG_STATE_LEN};
use seal::stream::NtSealer;
use seal::{SealKey, chunked_sealed_len, open_chunked_into, seal_chunked_into, sealed_len};

/// Magic at the start of a mirror image.
pub const IMAGE_MAGIC: [u8; 8] = *b"PLMIRROR";
/// Version of the image format (bound into every record's associated data).
pub const IMAGE_VERSION: u32 = 1;
/// Bytes of the plain image header.
pub const IMAGE_HEADER_LEN: usize = 64;
/// Name of the meta record.
pub const META_RECORD: &str = "meta";
const AAD_DOMAIN: &[u8] = b"plinius/mirror/v1\0";
/// Magic and version of a mirror image.
const HEADER: wire::Header = wire::Header {
    magic: &IMAGE_MAGIC,
    width: wire::VersionWidth::U32,
    version: IMAGE_VERSION,
    min_len: IMAGE_HEADER_LEN,
    foreign: "bad magic (not a mirror image, or corrupted)",
    label: "image format version",
};

/// The sampler part of the meta record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SamplerMeta {
    pub state: [u8; RNG_STATE_LEN],
    pub count: u64,
    pub dataset_id: [u8; 16],
}

/// The meta record's contents.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Meta {
    pub iteration: u64,
    pub seen: u64,
    pub loss: f32,
    pub avg_loss: f32,
    pub seed: u64,
    pub net_rng: [u8; RNG_STATE_LEN],
    pub sampler: Option<SamplerMeta>,
    pub buffers: Vec<(String, u64)>,
}

const META_FIXED: usize = 8 + 8 + 4 + 4 + 8 + RNG_STATE_LEN + 1 + RNG_STATE_LEN + 8 + 16 + 4;

impl Meta {
    fn plain_len(buffers: &[(String, u64)]) -> usize {
        META_FIXED + buffers.iter().map(|(n, _)| 2 + n.len() + 8).sum::<usize>()
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::plain_len(&self.buffers));
        v.extend_from_slice(&self.iteration.to_le_bytes());
        v.extend_from_slice(&self.seen.to_le_bytes());
        v.extend_from_slice(&self.loss.to_bits().to_le_bytes());
        v.extend_from_slice(&self.avg_loss.to_bits().to_le_bytes());
        v.extend_from_slice(&self.seed.to_le_bytes());
        v.extend_from_slice(&self.net_rng);
        let s = self.sampler.unwrap_or(SamplerMeta {
            state: [0; RNG_STATE_LEN],
            count: 0,
            dataset_id: [0; 16],
        });
        v.push(u8::from(self.sampler.is_some()));
        v.extend_from_slice(&s.state);
        v.extend_from_slice(&s.count.to_le_bytes());
        v.extend_from_slice(&s.dataset_id);
        v.extend_from_slice(&(self.buffers.len() as u32).to_le_bytes());
        for (name, len) in &self.buffers {
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(name.as_bytes());
            v.extend_from_slice(&len.to_le_bytes());
        }
        v
    }

    fn decode_sampler(r: &mut wire::Reader<'_>) -> wire::Result<Option<SamplerMeta>> {
        let present = r.u8("sampler flag")?;
        let s = SamplerMeta {
            state: r.array("sampler state")?,
            count: r.u64("sampler count")?,
            dataset_id: r.array("sampler dataset id")?,
        };
        match present {
            0 => Ok(None),
            1 => Ok(Some(s)),
            _ => Err(r.invalid("sampler flag", "is bad (neither 0 nor 1)")),
        }
    }

    fn decode(b: &[u8], iteration: u64) -> Result<Meta> {
        let bad = |reason: &str| EnclaveError::MirrorRecord {
            record: META_RECORD.into(),
            iteration,
            reason: reason.into(),
        };
        let mut r = wire::Reader::new(b, META_RECORD);
        let mut m = Meta {
            iteration: r.u64("iteration").map_err(|e| bad(&e.reason()))?,
            seen: r.u64("seen").map_err(|e| bad(&e.reason()))?,
            loss: f32::from_bits(r.u32("loss").map_err(|e| bad(&e.reason()))?),
            avg_loss: f32::from_bits(r.u32("average loss").map_err(|e| bad(&e.reason()))?),
            seed: r.u64("seed").map_err(|e| bad(&e.reason()))?,
            net_rng: r.array("network RNG").map_err(|e| bad(&e.reason()))?,
            sampler: None,
            buffers: Vec::new(),
        };
        m.sampler = Self::decode_sampler(&mut r).map_err(|e| bad(&e.reason()))?;
        let n = r.u32("buffer count").map_err(|e| bad(&e.reason()))?;
        for _ in 0..n {
            let entry = (|| -> wire::Result<(String, u64)> {
                let l = r.u16("buffer name length")? as usize;
                let name = r.str(l, "buffer name")?.to_string();
                Ok((name, r.u64("buffer length")?))
            })();
            m.buffers.push(entry.map_err(|e| bad(&e.reason()))?);
        }
        r.finish().map_err(|e| bad(&e.reason()))?;
        if m.iteration != iteration {
            return Err(bad(&format!(
                "holds iteration {}, the image header says {iteration}",
                m.iteration
            )));
        }
        Ok(m)
    }
}

/// Where one record lies in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPlace {
    /// `meta` or the state buffer's name.
    pub name: String,
    /// Offset from the start of the image.
    pub off: usize,
    /// Sealed length.
    pub len: usize,
}

/// The places of an image's records, fixed by the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// The meta record then every state buffer's record.
    pub records: Vec<RecordPlace>,
    /// Total image length.
    pub len: usize,
    pub(crate) buffers: Vec<(String, u64)>,
}

impl ImageLayout {
    /// The layout of `net`'s image.
    pub fn of(net: &Network) -> ImageLayout {
        let buffers: Vec<(String, u64)> = net
            .state_buffers()
            .into_iter()
            .map(|(n, b)| (n, b.len() as u64))
            .collect();
        let mut records = Vec::with_capacity(buffers.len() + 1);
        let mut off = IMAGE_HEADER_LEN;
        let meta_len = sealed_len(Meta::plain_len(&buffers));
        records.push(RecordPlace {
            name: META_RECORD.into(),
            off,
            len: meta_len,
        });
        off += meta_len;
        for (name, n) in &buffers {
            let len = chunked_sealed_len(*n as usize * 4);
            records.push(RecordPlace {
                name: name.clone(),
                off,
                len,
            });
            off += len;
        }
        ImageLayout {
            records,
            len: off,
            buffers,
        }
    }
}

fn record_aad(fingerprint: &[u8; 32], name: &str, iteration: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_DOMAIN.len() + 4 + 32 + 2 + name.len() + 8);
    a.extend_from_slice(AAD_DOMAIN);
    a.extend_from_slice(&IMAGE_VERSION.to_le_bytes());
    a.extend_from_slice(fingerprint);
    a.extend_from_slice(&(name.len() as u16).to_le_bytes());
    a.extend_from_slice(name.as_bytes());
    a.extend_from_slice(&iteration.to_le_bytes());
    a
}

/// The iteration an image's plain header claims (no key needed; `None` if
/// the bytes are not a mirror image).
pub fn image_iteration(image: &[u8]) -> Option<u64> {
    if image.len() < IMAGE_HEADER_LEN || image[..8] != IMAGE_MAGIC {
        return None;
    }
    Some(u64::from_le_bytes(
        image[16..24].try_into().expect("8 bytes"),
    ))
}

/// Seals `net`'s state and `meta` into `out` (exactly the layout's length),
/// record by record straight into `out` (which may be persistent memory).
/// With `streaming`, each chunk is sealed into the sealer's cache-resident
/// scratch record and streamed to `out` with non-temporal stores (no
/// read-for-ownership of the cold destination), ending with a store fence.
pub(crate) fn seal_image(
    key: &SealKey,
    fingerprint: &[u8; 32],
    layout: &ImageLayout,
    meta: &Meta,
    net: &Network,
    out: &mut [u8],
    streaming: Option<&mut [NtSealer; 2]>,
) -> Result<()> {
    if out.len() != layout.len {
        return Err(EnclaveError::Usage(format!(
            "mirror image destination of {} bytes, the image is {}",
            out.len(),
            layout.len
        )));
    }
    let mut h = wire::Writer::with_capacity(IMAGE_HEADER_LEN);
    HEADER.write(&mut h);
    h.u32(layout.records.len() as u32);
    h.u64(meta.iteration);
    h.u64(layout.len as u64);
    h.bytes(fingerprint);
    out[..IMAGE_HEADER_LEN].copy_from_slice(h.as_slice());
    let it = meta.iteration;
    let m = &layout.records[0];
    let plain = zeroize::Zeroizing::new(meta.encode());
    seal::seal_into(
        key,
        &record_aad(fingerprint, META_RECORD, it),
        &plain,
        &mut out[m.off..m.off + m.len],
    )?;
    let bufs = net.state_buffers();
    // Seal the buffers on two threads when the image is large: each thread
    // takes a contiguous run of records (split near the middle byte).
    let places = &layout.records[1..];
    let body = &mut out[places.first().map_or(layout.len, |p| p.off)..];
    let base = places.first().map_or(layout.len, |p| p.off);
    let seal_run = |run: &[RecordPlace],
                    bufs: &[(String, &[f32])],
                    dst: &mut [u8],
                    start: usize,
                    mut nt: Option<&mut NtSealer>|
     -> Result<()> {
        for (p, (name, b)) in run.iter().zip(bufs) {
            debug_assert_eq!(&p.name, name);
            let d = &mut dst[p.off - start..p.off - start + p.len];
            let aad = record_aad(fingerprint, name, it);
            match nt.as_deref_mut() {
                Some(nt) => nt.seal_chunked_into(key, &aad, bytemuck::cast_slice(b), d)?,
                None => seal_chunked_into(key, &aad, bytemuck::cast_slice(b), d)?,
            }
        }
        Ok(())
    };
    let (nt_a, nt_b) = match streaming {
        Some([a, b]) => (Some(a), Some(b)),
        None => (None, None),
    };
    if layout.len < PARALLEL_MIN || places.len() < 2 {
        return seal_run(places, &bufs, body, base, nt_a);
    }
    let half = base + (layout.len - base) / 2;
    let split = places
        .iter()
        .position(|p| p.off + p.len > half)
        .unwrap_or(places.len() - 1)
        .max(1);
    let cut = places[split].off - base;
    let (a, b) = body.split_at_mut(cut);
    let (pa, pb) = places.split_at(split);
    let (ba, bb) = bufs.split_at(split);
    let second = places[split].off;
    std::thread::scope(|s| {
        let h = s.spawn(|| seal_run(pb, bb, b, second, nt_b));
        let ra = seal_run(pa, ba, a, base, nt_a);
        let rb = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        ra.and(rb)
    })
}

/// Images at least this large are sealed and opened on two threads.
const PARALLEL_MIN: usize = 4 << 20;

/// Checks an image's plain header against the model (`fingerprint`, the
/// layout's length) and returns the iteration it claims.
pub(crate) fn check_header(
    image: &[u8],
    fingerprint: &[u8; 32],
    layout: &ImageLayout,
) -> Result<u64> {
    let what = "mirror image";
    let mut r = HEADER.check(image, what)?;
    let count = r.u32("record count")? as usize;
    let iteration = r.u64("iteration")?;
    let len = r.u64("image length")?;
    let model: [u8; 32] = r.array("model fingerprint")?;
    if model != *fingerprint {
        return Err(EnclaveError::layout(
            what,
            format!(
                "image of model {}, expected model {}",
                hex::encode(model),
                hex::encode(fingerprint)
            ),
        ));
    }
    if count != layout.records.len() || len != layout.len as u64 || image.len() != layout.len {
        return Err(EnclaveError::layout(
            what,
            format!(
                "{} bytes with {count} records (header says {len} bytes), the model's image is {} \
                 bytes with {} records",
                image.len(),
                layout.len,
                layout.records.len()
            ),
        ));
    }
    Ok(iteration)
}

/// Opens `image` into `net` (its state buffers) and returns the meta record.
/// On error `net`'s buffers may be partly overwritten: discard it.
pub(crate) fn open_image(
    key: &SealKey,
    fingerprint: &[u8; 32],
    layout: &ImageLayout,
    image: &[u8],
    net: &mut Network,
) -> Result<Meta> {
    let it = check_header(image, fingerprint, layout)?;
    let m = &layout.records[0];
    let mut plain = zeroize::Zeroizing::new(vec![0u8; m.len - seal::OVERHEAD]);
    seal::open_into(
        key,
        &record_aad(fingerprint, META_RECORD, it),
        &image[m.off..m.off + m.len],
        &mut plain,
    )
    .map_err(|e| record_error(META_RECORD, it, e))?;
    let meta = Meta::decode(&plain, it)?;
    if meta.buffers != layout.buffers {
        return Err(EnclaveError::MirrorRecord {
            record: META_RECORD.into(),
            iteration: it,
            reason: "its buffer list does not match the model's state buffers".into(),
        });
    }
    let places = &layout.records[1..];
    let mut bufs = net.state_buffers_mut();
    let open_run = |run: &[RecordPlace], bufs: &mut [(String, &mut [f32])]| -> Result<()> {
        for (p, (name, b)) in run.iter().zip(bufs.iter_mut()) {
            open_chunked_into(
                key,
                &record_aad(fingerprint, name, it),
                &image[p.off..p.off + p.len],
                bytemuck::cast_slice_mut(b),
            )
            .map_err(|e| record_error(name, it, e))?;
        }
        Ok(())
    };
    if layout.len < PARALLEL_MIN || places.len() < 2 {
        open_run(places, &mut bufs)?;
    } else {
        let base = places[0].off;
        let half = base + (layout.len - base) / 2;
        let split = places
            .iter()
            .position(|p| p.off + p.len > half)
            .unwrap_or(places.len() - 1)
            .max(1);
        let (pa, pb) = places.split_at(split);
        let (ba, bb) = bufs.split_at_mut(split);
        std::thread::scope(|s| {
            let h = s.spawn(|| open_run(pb, bb));
            let ra = open_run(pa, ba);
            let rb = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            ra.and(rb)
        })?;
    }
    Ok(meta)
}

fn record_error(name: &str, iteration: u64, e: seal::SealError) -> EnclaveError {
    let reason = match e {
        seal::SealError::Open { record } => {
            // Keep "chunk i of n" from the seal crate's label, drop the AAD dump.
            let chunk = record
                .split(" of record")
                .next()
                .filter(|c| c.starts_with("chunk "))
                .map(|c| format!(" in {c}"))
                .unwrap_or_default();
            format!(
                "authentication failed{chunk}: tampered, moved, swapped, or from another \
                 iteration or model"
            )
        }
        other => other.to_string(),
    };
    EnclaveError::MirrorRecord {
        record: name.to_string(),
        iteration,
        reason,
    }
}
