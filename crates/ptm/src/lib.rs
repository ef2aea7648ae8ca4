//! Persistent transactional memory (Romulus) over a mapped region.
//!
//! A [`Pool`] is `[header 4 KiB][main N][back N][raw R]` over a [`PmBackend`]: a
//! mapped file ([`FileBackend`]), plain memory ([`MemBackend`]) or the simulated
//! PM ([`SimPm`]). Main and back are twin copies updated by Romulus write
//! transactions ([`Pool::write`]) with at most four persistence fences each;
//! readers use [`Pool::read`]. Offsets, never pointers, address main, so any
//! mapping address works. Main holds a transactional allocator and
//! [`ROOT_COUNT`] root slots. The raw region is single-copy, written and
//! persisted explicitly through [`Pool::raw_mut`].
//!
//! ```
//! use ptm::{MemBackend, Pool, PoolSize, FlushStrategy};
//! let pool = Pool::format(MemBackend::new(1 << 20, FlushStrategy::None), PoolSize::main(256 << 10))?;
//! let off = pool.write(|tx| {
//!     let off = tx.alloc(16)?;
//!     tx.write(off, &42u64)?;
//!     tx.set_root(0, off)?;
//!     Ok::<_, ptm::PtmError>(off)
//! })?;
//! assert_eq!(pool.read(|v| v.read::<u64>(v.root(0)?))?, 42);
//! # let _ = off;
//! # Ok::<(), ptm::PtmError>(())
//! ```
// Unit tests may do I/O (temporary files, printing).
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        clippy::disallowed_macros
    )
)]
#![warn(missing_docs)]

mod backend;
mod error;
// The mapped-file back-end (feature `file`) is the one part of the trusted
// crates that does file I/O: the host uses it to open, lock, size, map and
// msync pool files; the enclave links ptm without it.
#[cfg(feature = "file")]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
mod file;
pub mod flush;
mod heap;
pub mod layout;
mod pool;
mod sim;

pub use backend::{MemBackend, PmBackend, StoreFlush};
pub use error::{PtmError, Result};
#[cfg(feature = "file")]
pub use file::FileBackend;
pub use flush::{CpuFlushSupport, FlushStrategy, cpu_flush_support};
pub use heap::{HeapStats, ROOT_COUNT};
pub use layout::{HeaderInfo, PoolState};
#[cfg(feature = "file")]
pub use pool::inspect_file;
pub use pool::{Pool, PoolOptions, PoolSize, RawWriter, Tx, View};
pub use sim::{Eviction, SimPm};
