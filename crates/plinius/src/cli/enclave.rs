//! `plinius enclave ...`: the enclave side of key provisioning.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use host::enclave_side::{AcceptOptions, Backend, EvidenceOptions};

use super::args::{ForceArg, PlatformArg};
use super::progress::Bars;

/// The enclave side's commands.
#[derive(Subcommand, Debug)]
pub enum EnclaveCommand {
    /// Produce attestation evidence for the owner's nonce (and the session state).
    Evidence(EvidenceArgs),
    /// Accept the owner's sealed key bundle; seal the keys to the platform.
    Accept(AcceptArgs),
    /// Print this enclave's measurement (what owners pass to --expect-measurement).
    Measurement(MeasurementArgs),
}

/// Arguments of `enclave measurement`.
#[derive(Args, Debug)]
pub struct MeasurementArgs {
    /// Below the digest, print what it covers (crates, Cargo.lock, compiler).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Evidence back-ends.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
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
    pub backend: BackendArg,
    #[command(flatten)]
    pub platform: PlatformArg,
    /// configfs-tsm report directory (tsm back-end).
    #[arg(long, default_value = hostio::tsm::DEFAULT_TSM_ROOT)]
    pub tsm_root: PathBuf,
    #[command(flatten)]
    pub force: ForceArg,
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
    #[command(flatten)]
    pub platform: PlatformArg,
    #[command(flatten)]
    pub force: ForceArg,
}

/// Runs an enclave command.
pub fn run(cmd: EnclaveCommand) -> anyhow::Result<()> {
    let mut bars = Bars::new(true);
    match cmd {
        EnclaveCommand::Evidence(a) => {
            let o = EvidenceOptions {
                nonce: a.nonce,
                out: a.out,
                state: a.state,
                backend: match a.backend {
                    BackendArg::Sim => Backend::Sim,
                    BackendArg::Tsm => Backend::Tsm,
                },
                platform: a.platform.platform,
                tsm_root: a.tsm_root,
                force: a.force.force,
            };
            println!("{}", host::enclave_side::evidence(&o, &mut bars)?);
        }
        EnclaveCommand::Accept(a) => {
            let o = AcceptOptions {
                state: a.state,
                bundle: a.bundle,
                out: a.out,
                platform: a.platform.platform,
                force: a.force.force,
            };
            println!("{}", host::enclave_side::accept(&o, &mut bars)?);
        }
        EnclaveCommand::Measurement(a) => {
            println!("{}", host::enclave_side::enclave_measurement());
            if a.verbose {
                println!("{}", host::enclave_side::measurement_covers());
            }
        }
    }
    Ok(())
}
