//! What a pool file holds (`plinius inspect`), without a key and
//! without modifying it: the `ptm` header and state word, the sizes, the
//! superblock (mirror mode, model fingerprint, seed, areas), the iteration
//! of the mirror and the dataset import status. Never a secret: everything
//! printed is stored in clear in the pool (or the checkpoint header).
//!
//! The pool is read as a snapshot (a copy in memory), so inspecting a pool
//! while `plinius train` runs on it is safe; an interrupted transaction is
//! recovered in the copy only, the file is left as it is.

use std::fmt::Write as _;
use std::path::Path;

use enclave::MirrorMode;
use enclave::layout::{self, Superblock};
use ptm::{MemBackend, Pool, PoolState};

use crate::error::{Context, Result, chain, in_pool};
use crate::import::import_status;

/// The facts `inspect` prints.
#[derive(Debug, Clone)]
pub struct PoolReport {
    /// The `ptm` header.
    pub header: ptm::HeaderInfo,
    /// The superblock, if the pool has one.
    pub superblock: Option<Superblock>,
    /// The iteration of the mirror, if known.
    pub iteration: Option<u64>,
    /// Where the iteration comes from.
    pub iteration_source: String,
    /// The dataset import status (text).
    pub import: String,
}

/// Reads the facts of the pool at `path` (and the ssd checkpoint at `ckpt`).
pub fn inspect(path: &Path, ckpt: &Path) -> Result<PoolReport> {
    let header = ptm::inspect_file(path)?;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let bytes = &bytes[..header.total_len() as usize];
    let pool = Pool::from_backend(MemBackend::from_bytes(bytes))
        .with_context(|| format!("{}: cannot open a snapshot of the pool", path.display()))?;
    let superblock = layout::read_superblock(&pool).map_err(in_pool(path))?;
    let (iteration, iteration_source) = match &superblock {
        None => (
            None,
            "no mirror yet (the job has not started training)".to_string(),
        ),
        Some(sb) => match sb.mode {
            MirrorMode::Romulus | MirrorMode::Ab => match layout::mirror_iteration(&pool, sb) {
                Ok(it) => (it, format!("{} mirror in the pool", sb.mode)),
                Err(e) => (None, format!("unreadable: {e}")),
            },
            MirrorMode::Ssd => match crate::ckpt::read_checkpoint(ckpt) {
                Ok(image) => (
                    enclave::image::image_iteration(&image),
                    format!("header of the checkpoint file {}", ckpt.display()),
                ),
                Err(e) => (None, chain(&e)),
            },
        },
    };
    // Before the superblock exists the dataset area starts the raw region.
    let area = superblock.map_or(
        layout::Region {
            off: 0,
            len: pool.raw_len(),
        },
        |sb| sb.dataset_area,
    );
    let import = if pool.raw_len() == 0 {
        "no dataset area".to_string()
    } else {
        match import_status(pool.raw(), area) {
            Ok(s) => s.to_string(),
            Err(e) => format!("unreadable: {}", chain(&e)),
        }
    };
    Ok(PoolReport {
        header,
        superblock,
        iteration,
        iteration_source,
        import,
    })
}

/// The report as text.
pub fn render(path: &Path, r: &PoolReport) -> String {
    let mut s = String::new();
    let h = &r.header;
    let _ = writeln!(s, "pool:            {}", path.display());
    let _ = writeln!(s, "ptm format:      version {}", h.format_version);
    let state_note = match h.state {
        PoolState::Idle => "no transaction in flight",
        PoolState::Mutating => "a transaction was interrupted: the next open rolls it back",
        PoolState::Copying => {
            "a transaction was interrupted after commit: the next open completes it"
        }
    };
    let _ = writeln!(s, "state word:      {} ({state_note})", h.state.name());
    let _ = writeln!(
        s,
        "sizes:           main {} + back {} + raw {} bytes (file {} bytes)",
        h.main_len,
        h.main_len,
        h.raw_len,
        h.total_len()
    );
    match &r.superblock {
        None => {
            let _ = writeln!(s, "superblock:      none yet");
        }
        Some(sb) => {
            let _ = writeln!(s, "layout:          version {}", sb.version);
            let _ = writeln!(s, "mirror mode:     {}", sb.mode);
            let _ = writeln!(s, "model:           {}", sb.fingerprint_hex());
            let _ = writeln!(s, "seed:            {}", sb.seed);
            let _ = writeln!(s, "mirror image:    {} bytes (sealed)", sb.image_len);
            let _ = writeln!(
                s,
                "dataset area:    raw [{}, +{})",
                sb.dataset_area.off, sb.dataset_area.len
            );
            if sb.mode == MirrorMode::Ab {
                let _ = writeln!(
                    s,
                    "ab area:         raw [{}, +{}), two slots of {} bytes",
                    sb.ab_area.off, sb.ab_area.len, sb.ab_slot_len
                );
            }
            let _ = writeln!(s, "sealed cfg:      {} bytes in main", sb.sealed_cfg.len);
            let _ = writeln!(
                s,
                "sealed keys:     {} bytes in main (sealed to the platform)",
                sb.sealed_keys.len
            );
        }
    }
    match r.iteration {
        Some(it) => {
            let _ = writeln!(s, "iteration:       {it} ({})", r.iteration_source);
        }
        None => {
            let _ = writeln!(s, "iteration:       unknown ({})", r.iteration_source);
        }
    }
    let _ = writeln!(s, "dataset import:  {}", r.import);
    s
}
