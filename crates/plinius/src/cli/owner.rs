//! `plinius owner ...`: the data owner's commands, run on the owner's machine.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use host::owner::{OpenModelOptions, SealDatasetOptions};
use host::provision::{ProvisionOptions, Provisioned};
use seal::dataset::Split;

use super::args::{ForceArg, QuietArg};
use super::progress::Bars;

/// The data owner's commands.
#[derive(Subcommand, Debug)]
pub enum OwnerCommand {
    /// Generate a new owner key file (dataset key and model key), mode 0600.
    Keygen(KeygenArgs),
    /// Seal an MNIST split (gzip IDX files) into a sealed dataset file.
    SealDataset(SealDatasetArgs),
    /// Verify enclave evidence, then seal the key bundle to the enclave's key.
    Provision(Box<ProvisionArgs>),
    /// Print a fresh random nonce (hex) to give an enclave.
    Nonce(NonceArgs),
    /// Open a model exported by `plinius export` into a Darknet .weights file.
    OpenModel(OpenModelArgs),
}

/// Arguments of `owner keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing key file (the old keys are lost).
    #[arg(long)]
    pub force: bool,
}

/// Which MNIST split to seal.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    /// train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (60 000 samples).
    Train,
    /// t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz (10 000 samples).
    Test,
}

/// Arguments of `owner seal-dataset`.
#[derive(Args, Debug)]
pub struct SealDatasetArgs {
    /// Directory with the MNIST gzip IDX files.
    #[arg(long)]
    pub mnist: PathBuf,
    /// The owner key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the sealed dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Which split to seal.
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitArg,
    /// Seal only the first N samples (tests, quick demos).
    #[arg(long)]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub force: ForceArg,
    #[command(flatten)]
    pub quiet: QuietArg,
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
    /// The enclave measurement you trust, hex (96 digits): the one the
    /// platform reports (on a TDX or SEV-SNP guest, the launch measurement of
    /// the guest image).
    #[arg(long)]
    pub expect_measurement: String,
    /// The enclave build measurement the evidence's report data must bind
    /// (what `plinius enclave measurement` prints for the enclave's build),
    /// hex; default: --expect-measurement for simulated evidence, this
    /// build's own enclave measurement for hardware evidence.
    #[arg(long, value_name = "HEX")]
    pub expect_build_measurement: Option<String>,
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
    /// SEV-SNP: the lowest TCB accepted, e.g. `bootloader=3,tee=0,snp=8,microcode=115`
    /// (a component left out is not constrained). The report's TCB must also be
    /// no newer than the one its VCEK certifies.
    #[arg(long, value_name = "bootloader=N,tee=N,snp=N,microcode=N")]
    pub snp_min_tcb: Option<String>,
    /// SEV-SNP: AMD's certificate revocation list for the chip's family (DER or
    /// PEM, from AMD's key distribution service); it must be signed by AMD's
    /// root, current at the verification time, and list neither the ASK nor
    /// the VCEK.
    #[arg(long, value_name = "FILE")]
    pub snp_crl: Option<PathBuf>,
    /// TDX: a runtime measurement register the TD must report, INDEX=HEX
    /// (index 0 to 3, 96 hex digits); repeat for several.
    #[arg(long, value_name = "INDEX=HEX")]
    pub tdx_rtmr: Vec<String>,
    /// TDX: accept a platform whose TCB status is SWHardeningNeeded (the
    /// advisory ids are printed); refused otherwise.
    #[arg(long)]
    pub allow_sw_hardening_needed: bool,
    #[command(flatten)]
    pub force: ForceArg,
}

/// Arguments of `owner nonce`.
#[derive(Args, Debug)]
pub struct NonceArgs {
    /// Bytes of randomness.
    #[arg(long, default_value_t = 32)]
    pub bytes: usize,
}

/// Arguments of `owner open-model`.
#[derive(Args, Debug, Clone)]
pub struct OpenModelArgs {
    /// The sealed model written by `plinius export`.
    #[arg(long)]
    pub model: PathBuf,
    /// Your owner key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the Darknet .weights file.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub force: ForceArg,
}

/// Runs an owner command.
pub fn run(cmd: OwnerCommand) -> anyhow::Result<()> {
    match cmd {
        OwnerCommand::Keygen(a) => println!("{}", host::owner::keygen(&a.out, a.force)?),
        OwnerCommand::SealDataset(a) => {
            let o = SealDatasetOptions {
                mnist: a.mnist,
                key: a.key,
                out: a.out,
                split: match a.split {
                    SplitArg::Train => Split::Train,
                    SplitArg::Test => Split::Test,
                },
                limit: a.limit,
                force: a.force.force,
            };
            println!(
                "{}",
                host::owner::seal_dataset(&o, &mut Bars::new(a.quiet.quiet))?
            );
        }
        OwnerCommand::Provision(a) => print_provisioned(&host::provision::provision(&(*a).into())?),
        OwnerCommand::Nonce(a) => println!("{}", host::provision::new_nonce(a.bytes)?),
        OwnerCommand::OpenModel(a) => {
            let o = OpenModelOptions {
                model: a.model,
                key: a.key,
                out: a.out,
                force: a.force.force,
            };
            println!("{}", host::owner::open_model(&o)?);
        }
    }
    Ok(())
}

impl From<ProvisionArgs> for ProvisionOptions {
    fn from(a: ProvisionArgs) -> Self {
        ProvisionOptions {
            evidence: a.evidence,
            nonce: a.nonce,
            expect_measurement: a.expect_measurement,
            expect_build_measurement: a.expect_build_measurement,
            key: a.key,
            out: a.out,
            allow_sim: a.allow_sim,
            sim_platform_key: a.sim_platform_key,
            platform: a.platform,
            snp_vcek: a.snp_vcek,
            tdx_collateral: a.tdx_collateral,
            verify_at: a.verify_at,
            snp_min_tcb: a.snp_min_tcb,
            snp_crl: a.snp_crl,
            tdx_rtmr: a.tdx_rtmr,
            allow_sw_hardening_needed: a.allow_sw_hardening_needed,
            force: a.force.force,
        }
    }
}

/// What `owner provision` prints (a warning on stderr for simulated evidence).
pub fn print_provisioned(p: &Provisioned) {
    if let Some(w) = p.warning() {
        eprintln!("{w}");
    }
    if let Some(n) = p.advisory_note() {
        eprintln!("{n}");
    }
    println!("{p}");
}
