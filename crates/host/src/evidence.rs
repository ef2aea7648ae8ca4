//! `plinius enclave evidence | accept` and `plinius owner provision | nonce`:
//! the two sides of key provisioning, exchanging files.
//!
//! Terminal 1 (enclave host): `enclave evidence --nonce N --out E --state S`
//! makes an ephemeral key pair, gets evidence binding its public key and the
//! owner's nonce, writes the evidence file `E` and the session state `S`
//! (the secret key sealed to the platform for this enclave's measurement).
//!
//! Terminal 2 (owner): `owner provision --evidence E --nonce N
//! --expect-measurement M --key owner.key --out B` verifies and seals the
//! key bundle to the attested key.
//!
//! Terminal 1: `enclave accept --state S --bundle B --out K` opens the bundle
//! and seals the keys to the platform (`K`) so restarts need no owner.
//!
//! The simulated platform (`--backend sim`, the default) lives in a directory:
//! `--platform DIR`, else `$PLINIUS_SIM_PLATFORM`, else
//! `$XDG_DATA_HOME/plinius/sim-platform`, else `~/.local/share/plinius/sim-platform`.
//! It is created on first use. A verifier on the same machine reads the
//! platform's public key from `DIR/platform.pub`; a verifier elsewhere passes
//! it with `--sim-platform-key HEX`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use hostio::fs::{write_public_file, write_secret_file};
use hostio::keyfile::read_key_file;
use hostio::platform::{SimPlatform, read_public_key, resolve_sim_dir};
use hostio::tsm::TsmProvider;
use seal::KeyBundle;
use seal::evidence::{Measurement, Policy};
use seal::platform::{parse_public_key, seal_to_platform, unseal_from_platform};
use seal::provision::{AttestedKey, EnclaveSession, accept_bundle, provision as seal_provision};

/// The enclave side's commands.
#[derive(Subcommand, Debug)]
pub enum EnclaveCommand {
    /// Produce attestation evidence for the owner's nonce (and the session state).
    Evidence(EvidenceArgs),
    /// Accept the owner's sealed key bundle; seal the keys to the platform.
    Accept(AcceptArgs),
    /// Print this enclave's measurement (what owners pass to --expect-measurement).
    Measurement,
}

/// Evidence back-ends.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Simulated platform (INSECURE: development and CI).
    Sim,
    /// Linux configfs-tsm (TDX / SEV-SNP guests).
    Tsm,
}

/// Arguments of `enclave evidence`.
#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// The owner's nonce, hex (16 to 64 bytes).
    #[arg(long)]
    pub nonce: String,
    /// Where to write the evidence file (public).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the session state (sealed to the platform); default: OUT.state.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Evidence back-end.
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: Backend,
    /// Simulated platform directory.
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// configfs-tsm report directory (tsm back-end).
    #[arg(long, default_value = hostio::tsm::DEFAULT_TSM_ROOT)]
    pub tsm_root: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `enclave accept`.
#[derive(Args, Debug)]
pub struct AcceptArgs {
    /// The session state written by `enclave evidence`.
    #[arg(long)]
    pub state: PathBuf,
    /// The sealed key bundle from `owner provision`.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Where to write the keys sealed to the platform (for restarts).
    #[arg(long)]
    pub out: PathBuf,
    /// Simulated platform directory.
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `owner provision`.
#[derive(Args, Debug)]
pub struct ProvisionArgs {
    /// The enclave's evidence file.
    #[arg(long)]
    pub evidence: PathBuf,
    /// The nonce you gave the enclave, hex.
    #[arg(long)]
    pub nonce: String,
    /// The enclave measurement you trust, hex (96 digits).
    #[arg(long)]
    pub expect_measurement: String,
    /// Your owner key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the sealed key bundle.
    #[arg(long)]
    pub out: PathBuf,
    /// Accept evidence from the SIMULATED platform (insecure; development only).
    #[arg(long)]
    pub allow_sim: bool,
    /// The simulated platform's public key, hex; default: read DIR/platform.pub.
    #[arg(long)]
    pub sim_platform_key: Option<String>,
    /// Simulated platform directory to read platform.pub from.
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// The SEV-SNP chip's VCEK (or VLEK) certificate, DER or PEM, for evidence
    /// whose report does not carry it (AMD's key distribution service serves
    /// it for the chip ID and TCB in the report).
    #[arg(long, value_name = "FILE")]
    pub snp_vcek: Option<PathBuf>,
    /// Intel's collateral for a TDX quote (JSON: PCK CRL, TCB info, QE
    /// identity and their issuer chains, as `dcap-qvl` reads it). Needs a build
    /// with `--features tdx`.
    #[arg(long, value_name = "FILE")]
    pub tdx_collateral: Option<PathBuf>,
    /// Check certificate and collateral validity at this time (seconds since
    /// the Unix epoch) instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub verify_at: Option<u64>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Reads an X.509 certificate file: DER, or PEM (the first `CERTIFICATE`
/// block).
fn read_certificate(path: &Path) -> Result<Vec<u8>> {
    use base64::Engine;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if text.contains("-----BEGIN") {
            let Some(start) = text.find(BEGIN).map(|i| i + BEGIN.len()) else {
                bail!("{}: a PEM file without a CERTIFICATE block", path.display());
            };
            let Some(len) = text[start..].find(END) else {
                bail!("{}: the PEM certificate has no END line", path.display());
            };
            let b64: String = text[start..start + len]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            return base64::engine::general_purpose::STANDARD
                .decode(b64)
                .with_context(|| {
                    format!(
                        "{}: the PEM certificate is not valid base64",
                        path.display()
                    )
                });
        }
    }
    // DER: an ASN.1 SEQUENCE.
    if bytes.first() != Some(&0x30) || bytes.len() < 64 {
        bail!(
            "{}: not a certificate (expected DER, which starts with an ASN.1 SEQUENCE, or PEM)",
            path.display()
        );
    }
    Ok(bytes)
}

/// The TDX collateral file's bytes, refused by a build that cannot use them.
fn read_tdx_collateral(path: &Path) -> Result<Vec<u8>> {
    if !cfg!(feature = "tdx") {
        bail!(
            "--tdx-collateral {}: this build has no TDX verifier (build with `--features tdx`)",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Arguments of `owner nonce`.
#[derive(Args, Debug)]
pub struct NonceArgs {
    /// Bytes of randomness.
    #[arg(long, default_value_t = 32)]
    pub bytes: usize,
}

/// Runs an enclave command.
pub fn run(cmd: EnclaveCommand) -> Result<()> {
    match cmd {
        EnclaveCommand::Evidence(a) => evidence(&a),
        EnclaveCommand::Accept(a) => accept(&a),
        EnclaveCommand::Measurement => {
            println!("{}", enclave_measurement()?);
            Ok(())
        }
    }
}

/// The measurement of this enclave build: [`enclave::MEASUREMENT`], the
/// SHA-384 of the trusted core's sources (the `enclave` crate), the same value
/// the enclave binds its platform-sealed keys to, so a bundle provisioned
/// here is accepted by `plinius train --bundle`.
pub fn enclave_measurement() -> Result<Measurement> {
    Ok(enclave::measurement())
}

/// Parses a hex nonce of 16 to 64 bytes.
pub fn parse_nonce(s: &str) -> Result<Vec<u8>> {
    let v = hex::decode(s.trim()).with_context(|| format!("nonce {s:?} is not hex"))?;
    if !(16..=64).contains(&v.len()) {
        bail!(
            "nonce is {} bytes; use 16 to 64 random bytes (e.g. `plinius owner nonce`)",
            v.len()
        );
    }
    Ok(v)
}

/// Opens (or creates, with a message on stderr) the simulated platform.
pub fn sim_platform(dir: Option<&Path>) -> Result<SimPlatform> {
    let dir = resolve_sim_dir(dir)?;
    let (p, created) = SimPlatform::open_or_create(&dir)?;
    if created {
        eprintln!(
            "created the SIMULATED platform in {} (INSECURE: its keys are plain files; for \
             development and CI only)",
            dir.display()
        );
    }
    Ok(p)
}

/// `enclave evidence`.
pub fn evidence(args: &EvidenceArgs) -> Result<()> {
    let nonce = parse_nonce(&args.nonce)?;
    let measurement = enclave_measurement()?;
    let state_path = args.state.clone().unwrap_or_else(|| {
        let mut n = args.out.as_os_str().to_os_string();
        n.push(".state");
        PathBuf::from(n)
    });
    match args.backend {
        Backend::Sim => {
            let platform = sim_platform(args.platform.as_deref())?;
            let provider = platform.provider(measurement);
            let (session, attested) = EnclaveSession::start(&provider, &nonce)?;
            let state = session.seal_state(&platform, &measurement)?;
            write_public_file(&args.out, &attested.to_bytes(), args.force)?;
            write_secret_file(&state_path, &state, args.force)?;
            println!(
                "backend:      sim (SIMULATED platform {}, INSECURE)",
                platform.dir().display()
            );
            println!("platform key: {}", hex::encode(platform.public_key()));
            println!("measurement:  {measurement}");
            println!("public key:   {}", hex::encode(attested.public_key));
            println!(
                "wrote evidence {} and session state {}",
                args.out.display(),
                state_path.display()
            );
        }
        Backend::Tsm => {
            let provider = TsmProvider {
                root: args.tsm_root.clone(),
                entry: None,
            };
            let (_session, attested) = EnclaveSession::start(&provider, &nonce)?;
            write_public_file(&args.out, &attested.to_bytes(), args.force)?;
            println!("backend:      {}", attested.evidence.backend());
            println!("public key:   {}", hex::encode(attested.public_key));
            println!("wrote evidence {}", args.out.display());
            println!(
                "note: no session state written: this build has no hardware sealing for the tsm \
                 back-end, so the bundle cannot be accepted by a later process"
            );
        }
    }
    Ok(())
}

/// Opens the keys a previous `enclave accept` sealed to the platform.
pub fn load_platform_keys(platform_dir: Option<&Path>, sealed_keys: &Path) -> Result<KeyBundle> {
    let platform = sim_platform(platform_dir)?;
    let blob = std::fs::read(sealed_keys)
        .with_context(|| format!("{}: cannot read", sealed_keys.display()))?;
    unseal_from_platform(&platform, &blob, &enclave_measurement()?)
        .with_context(|| format!("{}: cannot unseal the keys", sealed_keys.display()))
}

/// `enclave accept`.
pub fn accept(args: &AcceptArgs) -> Result<()> {
    let platform = sim_platform(args.platform.as_deref())?;
    let measurement = enclave_measurement()?;
    let state = std::fs::read(&args.state)
        .with_context(|| format!("{}: cannot read session state", args.state.display()))?;
    let sealed = std::fs::read(&args.bundle)
        .with_context(|| format!("{}: cannot read key bundle", args.bundle.display()))?;
    let bundle = accept_bundle(&platform, &measurement, &state, &sealed)
        .with_context(|| format!("{}: cannot accept the key bundle", args.bundle.display()))?;
    let blob = seal_to_platform(&platform, &bundle, &measurement)?;
    write_secret_file(&args.out, &blob, args.force)?;
    println!(
        "accepted key bundle: dataset key fingerprint {}, model key fingerprint {}\nwrote keys sealed to the platform: {}",
        bundle.dataset.key().fingerprint(),
        bundle.model.key().fingerprint(),
        args.out.display()
    );
    Ok(())
}

/// `owner provision`.
pub fn provision(args: &ProvisionArgs) -> Result<()> {
    let nonce = parse_nonce(&args.nonce)?;
    let expected = Measurement::from_hex(&args.expect_measurement)?;
    let bundle = read_key_file(&args.key)?;
    let bytes = std::fs::read(&args.evidence)
        .with_context(|| format!("{}: cannot read evidence", args.evidence.display()))?;
    let attested = AttestedKey::from_bytes(&bytes)
        .with_context(|| format!("{}: bad evidence file", args.evidence.display()))?;
    let sim_platform_key = if !args.allow_sim {
        None
    } else if let Some(k) = &args.sim_platform_key {
        Some(parse_public_key(k)?)
    } else {
        let dir = resolve_sim_dir(args.platform.as_deref())?;
        Some(read_public_key(&dir).with_context(
            || "no simulated platform key to pin: pass --sim-platform-key HEX or --platform DIR",
        )?)
    };
    let policy = Policy {
        allow_sim: args.allow_sim,
        sim_platform_key,
        snp_vek_der: args.snp_vcek.as_deref().map(read_certificate).transpose()?,
        tdx_collateral_json: args
            .tdx_collateral
            .as_deref()
            .map(read_tdx_collateral)
            .transpose()?,
        now_unix: args.verify_at,
    };
    let (verified, sealed) = seal_provision(&attested, &nonce, &expected, &policy, &bundle)
        .with_context(|| format!("{}: not provisioning", args.evidence.display()))?;
    write_public_file(&args.out, &sealed, args.force)?;
    if verified.simulated {
        eprintln!(
            "warning: the enclave runs on the SIMULATED platform: its evidence proves nothing about hardware"
        );
    }
    println!(
        "verified {} evidence for measurement {}\nsealed the key bundle to enclave key {}: {}",
        verified.backend,
        verified.measurement,
        hex::encode(attested.public_key),
        args.out.display()
    );
    Ok(())
}

/// `owner nonce`.
pub fn nonce(args: &NonceArgs) -> Result<()> {
    if !(16..=64).contains(&args.bytes) {
        bail!("--bytes must be 16 to 64");
    }
    let mut n = vec![0u8; args.bytes];
    seal::key::random_fill(&mut n)?;
    println!("{}", hex::encode(n));
    Ok(())
}
