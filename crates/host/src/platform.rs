//! The simulated platform (INSECURE: development and CI): a directory holding
//! the platform's signing and sealing keys. It is found at `--platform DIR`,
//! else `$PLINIUS_SIM_PLATFORM`, else `$XDG_DATA_HOME/plinius/sim-platform`,
//! else `~/.local/share/plinius/sim-platform`, and created on first use.

use std::path::Path;

use hostio::platform::{SimPlatform, resolve_sim_dir};

use crate::error::Result;
use crate::progress::{Event, Progress};

/// Opens the simulated platform in `dir` (or the default directory),
/// creating it on first use; a creation is reported as
/// [`Event::PlatformCreated`].
pub fn sim_platform(dir: Option<&Path>, progress: &mut dyn Progress) -> Result<SimPlatform> {
    let dir = resolve_sim_dir(dir)?;
    let (p, created) = SimPlatform::open_or_create(&dir)?;
    if created {
        progress.event(Event::PlatformCreated(&dir));
    }
    Ok(p)
}
