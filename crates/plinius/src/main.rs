//! The `plinius` command line. Parsing and dispatch only: every command's work
//! is done by the `plinius` library and the crates below it.

use clap::{Parser, Subcommand};

/// Secure, crash-resilient training of neural networks.
#[derive(Parser)]
#[command(name = "plinius", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show this build and the CPU features Plinius uses.
    Info,
    /// Benchmarks that reproduce the paper's figures (table, CSV, PNG).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The data owner's commands: keys, sealed datasets, key provisioning.
    #[command(subcommand)]
    Owner(plinius::owner::OwnerCommand),
    /// The enclave side of key provisioning: evidence, accepting the key bundle.
    #[command(subcommand)]
    Enclave(plinius::evidence::EnclaveCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// SPS: transactions of N random swaps in a persistent array (Fig. 6).
    Sps(plinius::sps::SpsArgs),
    /// AES-256-GCM seal/open throughput on one core (4 KiB, 1 MiB, 64 MiB).
    Seal(plinius::benchseal::BenchSealArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => plinius::info::run(),
        Command::Bench(BenchCommand::Sps(a)) => plinius::sps::run(a),
        Command::Owner(cmd) => plinius::owner::run(cmd),
        Command::Enclave(cmd) => plinius::evidence::run(cmd),
        Command::Bench(BenchCommand::Seal(a)) => plinius::benchseal::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
