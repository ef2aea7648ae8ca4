//! The enclave's side of key provisioning, exchanging files with the owner
//! (whose side is [`crate::provision`]):
//!
//! 1. `enclave evidence --nonce N --out E --state S` makes an ephemeral key
//!    pair, gets evidence binding its public key and the owner's nonce,
//!    writes the evidence file `E` and the session state `S` (the secret key
//!    sealed to the platform for this enclave's measurement);
//! 2. the owner verifies `E` and seals the key bundle to the attested key;
//! 3. `enclave accept --state S --bundle B --out K` opens the bundle and
//!    seals the keys to the platform (`K`) so restarts need no owner.
//!
//! The simulated platform (the default back-end) is described in
//! [`crate::platform`]. A verifier on the same machine reads its public key
//! from `DIR/platform.pub`; a verifier elsewhere is given it as hex.

use std::path::{Path, PathBuf};

use hostio::fs::{write_public_file, write_secret_file};
use hostio::tsm::TsmProvider;
use seal::KeyBundle;
use seal::evidence::Measurement;
use seal::platform::{seal_to_platform, unseal_from_platform};
use seal::provision::{EnclaveSession, accept_bundle};

use crate::error::{Context, Result};
use crate::platform::sim_platform;
use crate::progress::Progress;
use crate::provision::parse_nonce;

/// Evidence back-ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Simulated platform (INSECURE: development and CI).
    Sim,
    /// Linux configfs-tsm (TDX / SEV-SNP guests).
    Tsm,
}

/// What `enclave evidence` needs.
#[derive(Debug, Clone)]
pub struct EvidenceOptions {
    /// The owner's nonce, hex (16 to 64 bytes).
    pub nonce: String,
    /// Where to write the evidence file (public).
    pub out: PathBuf,
    /// Where to write the session state (default: `<out>.state`).
    pub state: Option<PathBuf>,
    /// Evidence back-end.
    pub backend: Backend,
    /// Simulated platform directory.
    pub platform: Option<PathBuf>,
    /// configfs-tsm report directory (tsm back-end).
    pub tsm_root: PathBuf,
    /// Replace existing output files.
    pub force: bool,
}

/// What `enclave evidence` wrote.
#[derive(Debug, Clone)]
pub enum EvidenceWritten {
    /// Simulated evidence and the session state.
    Sim {
        /// The evidence file written.
        evidence: PathBuf,
        /// The simulated platform's directory.
        platform_dir: PathBuf,
        /// The platform's public key, hex.
        platform_key: String,
        /// This enclave's measurement.
        measurement: Measurement,
        /// The enclave's ephemeral public key, hex.
        public_key: String,
        /// The session state file.
        state: PathBuf,
    },
    /// configfs-tsm evidence (no session state: no hardware sealing here).
    Tsm {
        /// The evidence file written.
        evidence: PathBuf,
        /// The back-end as the evidence names it.
        backend: String,
        /// The enclave's ephemeral public key, hex.
        public_key: String,
    },
}

/// What `enclave accept` needs.
#[derive(Debug, Clone)]
pub struct AcceptOptions {
    /// The session state written by `enclave evidence`.
    pub state: PathBuf,
    /// The sealed key bundle from `owner provision`.
    pub bundle: PathBuf,
    /// Where to write the keys sealed to the platform (for restarts).
    pub out: PathBuf,
    /// Simulated platform directory.
    pub platform: Option<PathBuf>,
    /// Replace an existing output file.
    pub force: bool,
}

/// What `enclave accept` opened: the fingerprints of the keys.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The platform-sealed keys written.
    pub out: PathBuf,
    /// The dataset key's fingerprint.
    pub dataset_key: String,
    /// The model key's fingerprint.
    pub model_key: String,
}

impl std::fmt::Display for EvidenceWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvidenceWritten::Sim {
                evidence,
                platform_dir,
                platform_key,
                measurement,
                public_key,
                state,
            } => write!(
                f,
                "backend:      sim (SIMULATED platform {}, INSECURE)\nplatform key: {platform_key}\n\
                 measurement:  {measurement}\npublic key:   {public_key}\nwrote evidence {} and session state {}",
                platform_dir.display(),
                evidence.display(),
                state.display()
            ),
            EvidenceWritten::Tsm {
                evidence,
                backend,
                public_key,
            } => write!(
                f,
                "backend:      {backend}\npublic key:   {public_key}\nwrote evidence {}\n\
                 note: no session state written: this build has no hardware sealing for the tsm \
                 back-end, so the bundle cannot be accepted by a later process",
                evidence.display()
            ),
        }
    }
}

impl std::fmt::Display for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepted key bundle: dataset key fingerprint {}, model key fingerprint {}\nwrote keys sealed to the platform: {}",
            self.dataset_key,
            self.model_key,
            self.out.display()
        )
    }
}

/// The measurement of this enclave build: [`enclave::MEASUREMENT`], the
/// build identity of the trusted code (SHA-384 over the sources of every
/// workspace crate the enclave links, `Cargo.lock` and the compiler version),
/// the same value the enclave binds its evidence's report data and its
/// platform-sealed keys to, so a bundle provisioned here is accepted by
/// `plinius train --bundle`.
pub fn enclave_measurement() -> Measurement {
    enclave::measurement()
}

/// What [`enclave_measurement`] covers, one line each, and what it is not
/// (`plinius enclave measurement --verbose`).
pub fn measurement_covers() -> String {
    format!(
        "covers:  sources of the crates {} (Cargo.toml and src/**/*.rs; tests excluded)\n\
         covers:  Cargo.lock (every dependency's exact version)\n\
         covers:  compiler {}\n\
         note:    a build identity of the trusted code, not a hardware measurement; on a \
         real TEE also check the platform's launch measurement (SEV-SNP MEASUREMENT, TDX \
         MRTD, SGX MRENCLAVE) of the image that contains this binary",
        enclave::MEASURED_CRATES.join(", "),
        enclave::MEASURED_RUSTC
    )
}

/// The session state path of `enclave evidence`: `state`, else `<out>.state`.
fn state_path(args: &EvidenceOptions) -> PathBuf {
    args.state.clone().unwrap_or_else(|| {
        let mut n = args.out.as_os_str().to_os_string();
        n.push(".state");
        PathBuf::from(n)
    })
}

/// `enclave evidence`: evidence for the owner's nonce (and, on the simulated
/// platform, the session state).
pub fn evidence(args: &EvidenceOptions, progress: &mut dyn Progress) -> Result<EvidenceWritten> {
    let nonce = parse_nonce(&args.nonce)?;
    let measurement = enclave_measurement();
    match args.backend {
        Backend::Sim => {
            let state_path = state_path(args);
            let platform = sim_platform(args.platform.as_deref(), progress)?;
            let provider = platform.provider(measurement);
            let (session, attested) = EnclaveSession::start(&provider, &measurement, &nonce)?;
            let state = session.seal_state(&platform, &measurement)?;
            write_public_file(&args.out, &attested.to_bytes(), args.force)?;
            write_secret_file(&state_path, &state, args.force)?;
            Ok(EvidenceWritten::Sim {
                evidence: args.out.clone(),
                platform_dir: platform.dir().to_path_buf(),
                platform_key: hex::encode(platform.public_key()),
                measurement,
                public_key: hex::encode(attested.public_key),
                state: state_path,
            })
        }
        Backend::Tsm => {
            let provider = TsmProvider {
                root: args.tsm_root.clone(),
                entry: None,
            };
            let (_session, attested) = EnclaveSession::start(&provider, &measurement, &nonce)?;
            write_public_file(&args.out, &attested.to_bytes(), args.force)?;
            Ok(EvidenceWritten::Tsm {
                evidence: args.out.clone(),
                backend: attested.evidence.backend(),
                public_key: hex::encode(attested.public_key),
            })
        }
    }
}

/// Opens the keys a previous `enclave accept` sealed to the platform.
pub fn load_platform_keys(
    platform_dir: Option<&Path>,
    sealed_keys: &Path,
    progress: &mut dyn Progress,
) -> Result<KeyBundle> {
    let platform = sim_platform(platform_dir, progress)?;
    let blob = std::fs::read(sealed_keys)
        .with_context(|| format!("{}: cannot read", sealed_keys.display()))?;
    unseal_from_platform(&platform, &blob, &enclave_measurement())
        .with_context(|| format!("{}: cannot unseal the keys", sealed_keys.display()))
}

/// `enclave accept`: opens the owner's bundle and writes the keys sealed to
/// the platform.
pub fn accept(args: &AcceptOptions, progress: &mut dyn Progress) -> Result<Accepted> {
    let platform = sim_platform(args.platform.as_deref(), progress)?;
    let measurement = enclave_measurement();
    let state = std::fs::read(&args.state)
        .with_context(|| format!("{}: cannot read session state", args.state.display()))?;
    let sealed = std::fs::read(&args.bundle)
        .with_context(|| format!("{}: cannot read key bundle", args.bundle.display()))?;
    let bundle = accept_bundle(&platform, &measurement, &state, &sealed)
        .with_context(|| format!("{}: cannot accept the key bundle", args.bundle.display()))?;
    let blob = seal_to_platform(&platform, &bundle, &measurement)?;
    write_secret_file(&args.out, &blob, args.force)?;
    Ok(Accepted {
        out: args.out.clone(),
        dataset_key: bundle.dataset.key().fingerprint().clone(),
        model_key: bundle.model.key().fingerprint().clone(),
    })
}
