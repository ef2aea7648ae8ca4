//! Attaching to a pool (creating its superblock and first mirror, or checking
//! it and mirroring in) and the mirror-out/in of each mode.

use super::{Attached, CheckpointStore, Enclave, Session, checkpoint_error, ns, pool_name};
use crate::error::{EnclaveError, Result};
use crate::image::{self, ImageLayout, Meta};
use crate::keys::Keys;
use crate::layout::{
    self, AB_SELECTOR_LEN, DIRECTORY_LEN, MirrorDirectory, MirrorMode, PAGE, Region,
    SUPERBLOCK_LEN, SUPERBLOCK_ROOT, Superblock,
};
use crate::stats::{MirrorInStats, MirrorOutStats};
use nn::Network;
use ptm::{PmBackend, Pool, PtmError, Tx};
use seal::SealKey;
use seal::stream::NtSealer;
use std::time::Instant;

const CFG_AAD_DOMAIN: &[u8] = b"plinius/sealed-cfg/v1\0";

fn cfg_aad(fingerprint: &[u8; 32]) -> Vec<u8> {
    [CFG_AAD_DOMAIN, &fingerprint[..]].concat()
}

fn out_of_space_hint(e: EnclaveError) -> EnclaveError {
    match e {
        EnclaveError::Pool(p @ PtmError::OutOfSpace { .. }) => EnclaveError::Usage(format!(
            "{p}: the pool is too small for this model; create it with the sizes of \
             Enclave::plan (nothing was written)"
        )),
        other => other,
    }
}

/// What a mirror-out seals: the state of `net` at `meta`, under `key`.
struct ImageSource<'a> {
    key: &'a SealKey,
    fingerprint: &'a [u8; 32],
    layout: &'a ImageLayout,
    meta: &'a Meta,
    net: &'a Network,
}

impl ImageSource<'_> {
    /// Seals the image into `out` (with non-temporal stores if `nt` is
    /// given); returns the nanoseconds it took.
    fn seal(&self, out: &mut [u8], nt: Option<&mut [NtSealer; 2]>) -> Result<u64> {
        let t = Instant::now();
        image::seal_image(
            self.key,
            self.fingerprint,
            self.layout,
            self.meta,
            self.net,
            out,
            nt,
        )?;
        Ok(ns(t))
    }

    /// `ab` mode: seals into slot `slot`, persists and fences it, then points
    /// the selector at it (persisted, fenced), the commit point. Returns the
    /// sealing nanoseconds.
    fn write_ab_slot<B: PmBackend>(
        &self,
        pool: &mut Pool<B>,
        sb: &Superblock,
        slot: u64,
        nt: Option<&mut [NtSealer; 2]>,
    ) -> Result<u64> {
        let region = sb.ab_slot(slot);
        let len = self.layout.len;
        let mut raw = pool.raw_mut();
        let seal_ns = self.seal(raw.bytes_mut(region.off, len)?, nt)?;
        raw.persist(region.off, len)?;
        raw.fence();
        raw.store_u64(
            sb.ab_area.off,
            layout::selector_word(slot, self.meta.iteration),
        )?;
        raw.persist(sb.ab_area.off, 8)?;
        raw.fence();
        Ok(seal_ns)
    }

    /// `ssd` mode: seals into `buf` and hands it to the host's checkpoint
    /// `store`. Returns the sealing nanoseconds.
    fn store_ssd(
        &self,
        store: Option<&mut Box<dyn CheckpointStore>>,
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let store = store.ok_or_else(|| {
            EnclaveError::Usage("ssd mode needs the host's checkpoint store".into())
        })?;
        buf.resize(self.layout.len, 0);
        let seal_ns = self.seal(buf, None)?;
        store.store(buf).map_err(checkpoint_error)?;
        Ok(seal_ns)
    }
}

/// What a mirror-out needs of the enclave, borrowed together (see
/// [`Enclave::sealing`]).
struct Sealing<'a> {
    src: ImageSource<'a>,
    /// The streaming sealers, when mirror-outs seal with non-temporal stores.
    nt: Option<&'a mut [NtSealer; 2]>,
    /// The host's checkpoint store (`ssd` mode).
    store: Option<&'a mut Box<dyn CheckpointStore>>,
    /// The buffer `ssd` mode seals into.
    ssd_buf: &'a mut Vec<u8>,
}

impl Sealing<'_> {
    /// `ssd` mode: see [`ImageSource::store_ssd`].
    fn store_ssd(self) -> Result<u64> {
        self.src.store_ssd(self.store, self.ssd_buf)
    }
}

/// Allocates and writes the superblock, the sealed cfg and the sealed keys
/// in `tx`, then points root slot 0 at the superblock (the commit point of a
/// pool's creation).
fn write_superblock(tx: &mut Tx<'_>, sb: &mut Superblock, cfg: &[u8], keys: &[u8]) -> Result<()> {
    let sb_off = tx.alloc(SUPERBLOCK_LEN as u64)?;
    let cfg_off = tx.alloc(cfg.len() as u64)?;
    let keys_off = tx.alloc(keys.len() as u64)?;
    tx.bytes_mut(cfg_off, cfg.len())?.copy_from_slice(cfg);
    tx.bytes_mut(keys_off, keys.len())?.copy_from_slice(keys);
    sb.sealed_cfg = Region {
        off: cfg_off,
        len: cfg.len() as u64,
    };
    sb.sealed_keys = Region {
        off: keys_off,
        len: keys.len() as u64,
    };
    tx.bytes_mut(sb_off, SUPERBLOCK_LEN)?
        .copy_from_slice(&sb.encode());
    tx.set_root(SUPERBLOCK_ROOT, sb_off)?;
    Ok(())
}

impl Enclave {
    pub(super) fn open_cfg<B: PmBackend>(
        keys: &Keys,
        pool: &Pool<B>,
        sb: &Superblock,
    ) -> Result<String> {
        let sealed = pool.read(|v| {
            v.bytes(sb.sealed_cfg.off, sb.sealed_cfg.len as usize)
                .map(<[u8]>::to_vec)
        })?;
        let plain = seal::open_chunked_to_vec(&keys.mirror, &cfg_aad(&sb.fingerprint), &sealed)
            .map_err(|e| {
                EnclaveError::Seal(e.for_record(format!(
                    "{}: the model cfg sealed in the pool (these keys are not the pool's: wrong \
                     bundle or owner key; or the pool was tampered with)",
                    pool_name(pool)
                )))
            })?;
        String::from_utf8(plain).map_err(|_| {
            EnclaveError::layout(format!("{}: sealed cfg", pool_name(pool)), "not UTF-8 text")
        })
    }

    /// Attaches to `pool`: if it has a superblock, checks the model
    /// fingerprint and mirror mode (a mismatch is an error and the pool is
    /// not modified), checks the keys open its sealed cfg, and mirrors in;
    /// otherwise writes the superblock, the sealed cfg, the platform-sealed
    /// keys and a first mirror (iteration 0), atomically.
    pub fn attach<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<Attached> {
        if self.session.is_some() {
            return Err(EnclaveError::Usage(
                "the enclave is already attached to a pool".into(),
            ));
        }
        match layout::read_superblock(pool)? {
            Some(sb) => self.attach_existing(pool, sb),
            None => self.create(pool).map_err(out_of_space_hint),
        }
    }

    pub(super) fn attach_existing<B: PmBackend>(
        &mut self,
        pool: &Pool<B>,
        sb: Superblock,
    ) -> Result<Attached> {
        let name = pool_name(pool);
        if sb.fingerprint != self.fingerprint {
            return Err(EnclaveError::FingerprintMismatch {
                pool: name,
                found: sb.fingerprint_hex(),
                expected: hex::encode(self.fingerprint),
                origin: self.origin.clone(),
            });
        }
        if sb.mode != self.config.mirror {
            return Err(EnclaveError::ModeMismatch {
                pool: name,
                found: sb.mode,
                requested: self.config.mirror,
            });
        }
        if sb.image_len != self.layout.len as u64 {
            return Err(EnclaveError::layout(
                format!("{name}: pool superblock"),
                format!(
                    "mirror images of {} bytes, this model's are {}",
                    sb.image_len, self.layout.len
                ),
            ));
        }
        Self::open_cfg(&self.keys, pool, &sb)?;
        if sb.seed != self.seed {
            self.seed = sb.seed;
            self.reset_model()?;
        }
        self.session = Some(Session {
            sb,
            pool: name,
            ab_active: 0,
            dataset_checked: None,
        });
        let stats = self.mirror_in(pool)?;
        Ok(Attached {
            created: false,
            iteration: stats.iteration,
            seen: self.net.seen(),
            mode: sb.mode,
            seed: self.seed,
            mirror_in: Some(stats),
            mirror_out: None,
        })
    }

    fn create<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<Attached> {
        let mode = self.config.mirror;
        let name = pool_name(pool);
        let image_len = self.layout.len as u64;
        let raw_len = pool.raw_len();
        let (ab_area, ab_slot_len) = if mode == MirrorMode::Ab {
            let slot = image_len.div_ceil(PAGE) * PAGE;
            let len = AB_SELECTOR_LEN + 2 * slot;
            if raw_len < len {
                return Err(EnclaveError::Usage(format!(
                    "{name}: the raw region has {raw_len} bytes, ab mode needs {len} for two \
                     slots of {slot}; create the pool with the sizes of Enclave::plan (nothing \
                     was written)"
                )));
            }
            (
                Region {
                    off: raw_len - len,
                    len,
                },
                slot,
            )
        } else {
            (
                Region {
                    off: raw_len,
                    len: 0,
                },
                0,
            )
        };
        let mut sb = Superblock {
            version: layout::LAYOUT_VERSION,
            mode,
            fingerprint: self.fingerprint,
            seed: self.seed,
            image_len,
            sealed_cfg: Region::default(),
            sealed_keys: Region::default(),
            dataset_area: Region {
                off: 0,
                len: ab_area.off,
            },
            ab_area,
            ab_slot_len,
            directory: 0,
        };
        let cfg = seal::seal_chunked_to_vec(
            &self.keys.mirror,
            &cfg_aad(&self.fingerprint),
            self.cfg_text.as_bytes(),
        )?;
        let keys_blob = self.keys.platform_blob().to_vec();
        let meta = self.meta();
        let t0 = Instant::now();
        let mut seal_ns = 0;
        let s = self.sealing(&meta);
        match mode {
            MirrorMode::Romulus => {
                pool.write(|tx| -> Result<()> {
                    let dir_off = tx.alloc(DIRECTORY_LEN as u64)?;
                    let img_off = tx.alloc(image_len)?;
                    seal_ns = s.src.seal(tx.bytes_mut(img_off, s.src.layout.len)?, s.nt)?;
                    let dir = MirrorDirectory {
                        iteration: meta.iteration,
                        image: Region {
                            off: img_off,
                            len: image_len,
                        },
                    };
                    tx.bytes_mut(dir_off, DIRECTORY_LEN)?
                        .copy_from_slice(&dir.encode());
                    sb.directory = dir_off;
                    write_superblock(tx, &mut sb, &cfg, &keys_blob)
                })?;
            }
            MirrorMode::Ab => {
                seal_ns = s.src.write_ab_slot(pool, &sb, 0, s.nt)?;
                pool.write(|tx| write_superblock(tx, &mut sb, &cfg, &keys_blob))?;
            }
            MirrorMode::Ssd => {
                seal_ns = s.store_ssd()?;
                pool.write(|tx| write_superblock(tx, &mut sb, &cfg, &keys_blob))?;
            }
        }
        let total_ns = ns(t0);
        let out = MirrorOutStats {
            iteration: meta.iteration,
            bytes: image_len,
            seal_ns,
            persist_ns: total_ns.saturating_sub(seal_ns),
            total_ns,
        };
        self.session = Some(Session {
            sb,
            pool: name,
            ab_active: 0,
            dataset_checked: None,
        });
        Ok(Attached {
            created: true,
            iteration: meta.iteration,
            seen: self.net.seen(),
            mode,
            seed: self.seed,
            mirror_in: None,
            mirror_out: Some(out),
        })
    }

    /// Re-seals the keys into the attached pool when the pool's sealed-keys
    /// blob does not unseal to them on `sealer` (it was sealed to another
    /// platform or another enclave build, or damaged): the keys, given again
    /// and verified as the pool's at attach (they open its sealed cfg), are
    /// sealed to `sealer` and this enclave's measurement and written in one
    /// write transaction (in place if the blob keeps its length, else into a
    /// new block the superblock then points to), so later restarts need no
    /// keys. Returns whether it re-sealed; a blob that unseals is left alone.
    pub fn reseal_keys<B: PmBackend>(
        &mut self,
        pool: &mut Pool<B>,
        sealer: &dyn seal::platform::PlatformSealer,
    ) -> Result<bool> {
        let sb = self.session()?.sb;
        let old = pool.read(|v| {
            v.bytes(sb.sealed_keys.off, sb.sealed_keys.len as usize)
                .map(<[u8]>::to_vec)
        })?;
        if Keys::from_platform_blob(sealer, &old).is_ok_and(|k| k.same_keys(&self.keys)) {
            return Ok(false);
        }
        let blob = self.keys.seal_for(sealer)?;
        let mut new_sb = sb;
        pool.write(|tx| -> Result<()> {
            if blob.len() as u64 == sb.sealed_keys.len {
                tx.bytes_mut(sb.sealed_keys.off, blob.len())?
                    .copy_from_slice(&blob);
            } else {
                let off = tx.alloc(blob.len() as u64)?;
                tx.bytes_mut(off, blob.len())?.copy_from_slice(&blob);
                new_sb.sealed_keys = Region {
                    off,
                    len: blob.len() as u64,
                };
                let sb_off = tx.root(SUPERBLOCK_ROOT)?;
                tx.bytes_mut(sb_off, SUPERBLOCK_LEN)?
                    .copy_from_slice(&new_sb.encode());
                tx.free(sb.sealed_keys.off)?;
            }
            Ok(())
        })
        .map_err(out_of_space_hint)?;
        if let Some(s) = self.session.as_mut() {
            s.sb = new_sb;
        }
        Ok(true)
    }

    /// The image source of a mirror-out at `meta`, with the sealers and
    /// buffers it may use, borrowed from `self` at once.
    fn sealing<'a>(&'a mut self, meta: &'a Meta) -> Sealing<'a> {
        Sealing {
            src: ImageSource {
                key: &self.keys.mirror,
                fingerprint: &self.fingerprint,
                layout: &self.layout,
                meta,
                net: &self.net,
            },
            nt: if self.streaming {
                Some(&mut self.nt)
            } else {
                None
            },
            store: self.store.as_mut(),
            ssd_buf: &mut self.ssd_buf,
        }
    }

    /// Seals the whole state into the pool's mirror (or the host's checkpoint
    /// in `ssd` mode) so that it commits atomically: `romulus` one write
    /// transaction; `ab` the idle slot, persisted and fenced, then the
    /// selector; `ssd` the host's durable file replace.
    pub fn mirror_out<B: PmBackend>(&mut self, pool: &mut Pool<B>) -> Result<MirrorOutStats> {
        let (sb, active) = {
            let s = self.session()?;
            (s.sb, s.ab_active)
        };
        let meta = self.meta();
        let it = meta.iteration;
        let len = self.layout.len;
        let t0 = Instant::now();
        let mut seal_ns = 0;
        let s = self.sealing(&meta);
        match sb.mode {
            MirrorMode::Romulus => {
                let dir = layout::read_directory(pool, &sb)?;
                pool.write(|tx| -> Result<()> {
                    seal_ns = s.src.seal(tx.bytes_mut(dir.image.off, len)?, s.nt)?;
                    let d = MirrorDirectory {
                        iteration: it,
                        image: dir.image,
                    };
                    tx.bytes_mut(sb.directory, DIRECTORY_LEN)?
                        .copy_from_slice(&d.encode());
                    Ok(())
                })?;
            }
            MirrorMode::Ab => {
                let idle = 1 - active;
                seal_ns = s.src.write_ab_slot(pool, &sb, idle, s.nt)?;
                if let Some(s) = self.session.as_mut() {
                    s.ab_active = idle;
                }
            }
            MirrorMode::Ssd => {
                seal_ns = s.store_ssd()?;
            }
        }
        let total_ns = ns(t0);
        Ok(MirrorOutStats {
            iteration: it,
            bytes: len as u64,
            seal_ns,
            persist_ns: total_ns.saturating_sub(seal_ns),
            total_ns,
        })
    }

    /// Replaces the enclave's state with the pool's current mirror (or the
    /// host's checkpoint in `ssd` mode). On error the enclave is detached and
    /// its model reset: attach again.
    pub fn mirror_in<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<MirrorInStats> {
        let r = self.mirror_in_inner(pool);
        if r.is_err() {
            self.session = None;
            self.reset_model()?;
        }
        r
    }

    fn mirror_in_inner<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<MirrorInStats> {
        let session = self.session()?;
        let sb = session.sb;
        let name = session.pool.clone();
        let t0 = Instant::now();
        let (key, fp, lay) = (&self.keys.mirror, &self.fingerprint, &self.layout);
        let net = &mut self.net;
        // Checked on the shared image before opening (a clear early error)
        // and again on the opened meta record: the host may rewrite the
        // image's plain header in between.
        let check_it = |got: Option<u64>, want: u64, whose: &str| -> Result<()> {
            match got {
                Some(it) if it == want => Ok(()),
                got => Err(EnclaveError::layout(
                    format!("{name}: mirror image"),
                    format!(
                        "the {whose} says iteration {want}, the image says {}",
                        got.map_or("nothing (no image)".to_string(), |g| g.to_string())
                    ),
                )),
            }
        };
        let mut active = 0;
        let (meta, read_ns, open_ns) = match sb.mode {
            MirrorMode::Romulus => {
                let dir = layout::read_directory(pool, &sb)?;
                pool.read(|v| -> Result<_> {
                    let img = v.bytes(dir.image.off, lay.len)?;
                    check_it(
                        image::image_iteration(img),
                        dir.iteration,
                        "romulus directory",
                    )?;
                    let read_ns = ns(t0);
                    let t = Instant::now();
                    let meta = image::open_image(key, fp, lay, img, net)?;
                    check_it(Some(meta.iteration), dir.iteration, "romulus directory")?;
                    Ok((meta, read_ns, ns(t)))
                })?
            }
            MirrorMode::Ab => {
                let (slot, it) = layout::read_selector(pool.raw(), &sb)?;
                let img = sb.ab_slot(slot).slice(pool.raw()).ok_or_else(|| {
                    EnclaveError::layout(
                        format!("{name}: ab slot {slot}"),
                        "outside the raw region",
                    )
                })?;
                check_it(image::image_iteration(img), it, "ab selector")?;
                active = slot;
                let read_ns = ns(t0);
                let t = Instant::now();
                let meta = image::open_image(key, fp, lay, img, net)?;
                check_it(Some(meta.iteration), it, "ab selector")?;
                (meta, read_ns, ns(t))
            }
            MirrorMode::Ssd => {
                let store = self.store.as_mut().ok_or_else(|| {
                    EnclaveError::Usage("ssd mode needs the host's checkpoint store".into())
                })?;
                let img = store.load().map_err(checkpoint_error)?.ok_or_else(|| {
                    EnclaveError::Checkpoint(format!(
                        "{name}: an ssd-mode pool, but its checkpoint is missing: give the checkpoint \
                         file it was trained with (nothing was written)"
                    ))
                })?;
                let read_ns = ns(t0);
                let t = Instant::now();
                let meta = image::open_image(key, fp, lay, &img, net)?;
                (meta, read_ns, ns(t))
            }
        };
        self.apply_meta(&meta)?;
        if let Some(s) = self.session.as_mut() {
            s.ab_active = active;
        }
        Ok(MirrorInStats {
            iteration: meta.iteration,
            bytes: self.layout.len as u64,
            read_ns,
            open_ns,
            total_ns: ns(t0),
        })
    }
}
