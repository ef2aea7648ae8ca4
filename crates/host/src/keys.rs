//! Where a job's enclave gets its keys at the job's first start.

use std::path::PathBuf;

use enclave::Keys;
use hostio::keyfile::read_key_file;
use hostio::platform::SimPlatform;
use seal::evidence::Policy;

use crate::error::{Context, Result, bail};

/// Where the enclave's keys come from at a job's first start.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Development shortcut: the owner's key file on the host; simulated
    /// evidence and provisioning run in-process.
    OwnerKey(PathBuf),
    /// The real flow: the bundle the owner sealed to this enclave's evidence,
    /// and the session state `plinius enclave evidence` wrote.
    Bundle {
        /// The sealed key bundle (`plinius owner provision --out`).
        bundle: PathBuf,
        /// The enclave session state (`plinius enclave evidence --state`).
        state: PathBuf,
    },
    /// The keys `plinius enclave accept` sealed to this platform for this
    /// enclave build (`keys.sealed`).
    PlatformSealed(PathBuf),
    /// None given: only a pool that already holds its sealed keys will do.
    Pool,
}

/// The enclave's keys and where they came from (for messages).
pub struct ProvisionedKeys {
    /// The keys.
    pub keys: Keys,
    /// Where they came from, e.g. "provisioned key bundle".
    pub from: &'static str,
}

/// Gets the enclave's keys from `source` (first start of a job).
pub fn provision_keys(source: &KeySource, platform: &SimPlatform) -> Result<ProvisionedKeys> {
    match source {
        KeySource::OwnerKey(path) => {
            let bundle = read_key_file(path)?;
            let provider = platform.provider(enclave::measurement());
            let policy = Policy {
                allow_sim: true,
                sim_platform_key: Some(platform.public_key()),
                ..Policy::default()
            };
            let keys = Keys::dev_provision(&provider, &policy, &bundle, platform)
                .context("development provisioning with the owner key file")?;
            Ok(ProvisionedKeys {
                keys,
                from: "owner key file (development shortcut: simulated evidence and provisioning in-process)",
            })
        }
        KeySource::Bundle { bundle, state } => {
            let b = std::fs::read(bundle)
                .with_context(|| format!("{}: cannot read the key bundle", bundle.display()))?;
            let s = std::fs::read(state).with_context(|| {
                format!("{}: cannot read the enclave session state", state.display())
            })?;
            let keys = Keys::accept(platform, &s, &b).with_context(|| {
                format!(
                    "{}: cannot accept the key bundle (was it provisioned for the evidence of session {}?)",
                    bundle.display(),
                    state.display()
                )
            })?;
            Ok(ProvisionedKeys {
                keys,
                from: "provisioned key bundle",
            })
        }
        KeySource::PlatformSealed(path) => {
            let blob = std::fs::read(path)
                .with_context(|| format!("{}: cannot read the sealed keys", path.display()))?;
            let keys = Keys::from_platform_blob(platform, &blob).with_context(|| {
                format!(
                    "{}: cannot unseal the keys (sealed on another platform or for another enclave \
                     build, or not a file of `plinius enclave accept`)",
                    path.display()
                )
            })?;
            Ok(ProvisionedKeys {
                keys,
                from: "keys sealed to this platform by `enclave accept`",
            })
        }
        KeySource::Pool => bail!(
            "the pool holds no keys yet: give --key owner.key (development), --bundle FILE --state FILE \
             (provisioned) or --keys keys.sealed (accepted) for the job's first start"
        ),
    }
}

impl KeySource {
    /// The source a job's first start names: the owner's key file if given,
    /// else a bundle with its session state if both are given, else the pool.
    pub fn from_flags(
        key: Option<PathBuf>,
        bundle: Option<PathBuf>,
        state: Option<PathBuf>,
    ) -> KeySource {
        match (key, bundle, state) {
            (Some(k), _, _) => KeySource::OwnerKey(k),
            (None, Some(bundle), Some(state)) => KeySource::Bundle { bundle, state },
            _ => KeySource::Pool,
        }
    }
}
