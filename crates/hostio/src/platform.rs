//! The simulated platform's directory (mode 0700):
//! - `signing.key`: the Ed25519 platform signing key (0600),
//! - `sealing.key`: the platform sealing secret (0600),
//! - `platform.pub`: the signing public key in hex (public; verifiers pin it).
//!
//! It is **insecure**: whoever reads these files can forge evidence and
//! unseal (see [`seal::platform::SimPlatformKeys`]). [`resolve_sim_dir`]
//! picks the directory: `--platform DIR`, else `$PLINIUS_SIM_PLATFORM`, else
//! `$XDG_DATA_HOME/plinius/sim-platform`, else
//! `~/.local/share/plinius/sim-platform`.

use std::path::{Path, PathBuf};

use seal::evidence::Measurement;
use seal::evidence::sim::SimProvider;
use seal::platform::{PlatformSealer, SimPlatformKeys, parse_public_key};
use seal::{Result, SealError};
use zeroize::Zeroizing;

use crate::fs::{create_private_dir, read_secret_file, write_public_file, write_secret_file};

/// Environment variable naming the simulated platform directory.
pub const SIM_PLATFORM_ENV: &str = "PLINIUS_SIM_PLATFORM";

/// The simulated platform directory to use (see the module docs).
pub fn resolve_sim_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(SIM_PLATFORM_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p).join("plinius/sim-platform"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(h).join(".local/share/plinius/sim-platform"));
    }
    Err(SealError::Format {
        what: "simulated platform".into(),
        reason: format!("no directory: pass --platform DIR or set {SIM_PLATFORM_ENV}"),
    })
}

/// A simulated platform kept in a directory.
pub struct SimPlatform {
    dir: PathBuf,
    keys: SimPlatformKeys,
}

impl std::fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimPlatform({}, public key {})",
            self.dir.display(),
            hex::encode(self.public_key())
        )
    }
}

const FILES: [&str; 3] = ["signing.key", "sealing.key", "platform.pub"];

impl SimPlatform {
    /// Opens the platform in `dir`, creating it if the directory does not
    /// exist or is empty. Returns whether it was created. A directory with
    /// some but not all of the files is an error (never silently replaced).
    pub fn open_or_create(dir: &Path) -> Result<(Self, bool)> {
        let present: Vec<bool> = FILES.iter().map(|f| dir.join(f).exists()).collect();
        if present.iter().all(|&p| p) {
            return Ok((Self::open(dir)?, false));
        }
        if present.iter().any(|&p| p) {
            return Err(SealError::Format {
                what: format!("{}", dir.display()),
                reason: "incomplete simulated platform (some of signing.key, sealing.key, \
                         platform.pub are missing); refusing to replace it"
                    .into(),
            });
        }
        create_private_dir(dir)?;
        let keys = SimPlatformKeys::generate()?;
        write_secret_file(&dir.join("signing.key"), &keys.signing_key_file(), false)?;
        write_secret_file(&dir.join("sealing.key"), &keys.sealing_key_file(), false)?;
        write_public_file(
            &dir.join("platform.pub"),
            keys.public_key_file().as_bytes(),
            false,
        )?;
        let dir = dir.to_path_buf();
        Ok((SimPlatform { dir, keys }, true))
    }

    /// Opens an existing platform in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let (sg, sl) = (dir.join("signing.key"), dir.join("sealing.key"));
        let keys = SimPlatformKeys::from_key_files(
            &read_secret_file(&sg)?,
            &sg.display().to_string(),
            &read_secret_file(&sl)?,
            &sl.display().to_string(),
        )?;
        let published = read_public_key(dir)?;
        if published != keys.public_key() {
            return Err(SealError::Format {
                what: format!("{}", dir.join("platform.pub").display()),
                reason: "does not match signing.key".into(),
            });
        }
        Ok(SimPlatform {
            dir: dir.to_path_buf(),
            keys,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The platform's secrets.
    pub fn keys(&self) -> &SimPlatformKeys {
        &self.keys
    }

    /// The Ed25519 public key verifiers pin.
    pub fn public_key(&self) -> [u8; 32] {
        self.keys.public_key()
    }

    /// An evidence provider that reports `measurement`.
    pub fn provider(&self, measurement: Measurement) -> SimProvider<'_> {
        self.keys.provider(measurement)
    }
}

impl PlatformSealer for SimPlatform {
    fn seal(&self, measurement: &Measurement, purpose: &str, data: &[u8]) -> Result<Vec<u8>> {
        self.keys.seal(measurement, purpose, data)
    }

    fn unseal(
        &self,
        measurement: &Measurement,
        purpose: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.keys.unseal(measurement, purpose, blob)
    }
}

/// Reads `platform.pub` (hex Ed25519 public key) from a platform directory;
/// needs no secret, so a verifier on the same machine can pin it.
pub fn read_public_key(dir: &Path) -> Result<[u8; 32]> {
    let p = dir.join("platform.pub");
    let s = std::fs::read_to_string(&p).map_err(|source| SealError::Io {
        path: p.clone(),
        source,
    })?;
    parse_public_key(s.trim()).map_err(|e| match e {
        SealError::Format { reason, .. } => SealError::Format {
            what: format!("{}", p.display()),
            reason,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_private_files_then_reopened() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("plat");
        let (p, created) = SimPlatform::open_or_create(&dir).unwrap();
        assert!(created);
        for f in ["signing.key", "sealing.key"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let (q, created) = SimPlatform::open_or_create(&dir).unwrap();
        assert!(!created);
        assert_eq!(p.public_key(), q.public_key());
        assert_eq!(read_public_key(&dir).unwrap(), p.public_key());
        // Incomplete platform: refused, not replaced.
        std::fs::remove_file(dir.join("sealing.key")).unwrap();
        let e = SimPlatform::open_or_create(&dir).unwrap_err();
        assert!(e.to_string().contains("incomplete"), "{e}");
        assert!(dir.join("signing.key").exists());
    }
}
