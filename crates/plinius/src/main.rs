//! The `plinius` command line. Parsing and dispatch only: each command's
//! module in `cli` turns its arguments into the host library's options and
//! prints; the work is done by `host`, `experiments` and the crates below.

mod cli;

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
    Bench(cli::bench::BenchCommand),
    /// The data owner's commands: keys, sealed datasets, key provisioning.
    #[command(subcommand)]
    Owner(cli::owner::OwnerCommand),
    /// The enclave side of key provisioning: evidence, accepting the key bundle.
    #[command(subcommand)]
    Enclave(cli::enclave::EnclaveCommand),
    /// Darknet .cfg model files.
    #[command(subcommand)]
    Cfg(cli::cfg::CfgCommand),
    /// Plaintext training on MNIST (no PM, no sealing): the baseline.
    TrainPlain(cli::train_plain::TrainPlainArgs),
    /// Test accuracy of a model on MNIST.
    Eval(cli::eval::EvalArgs),
    /// Write a model's weights in Darknet's .weights format.
    ExportWeights(cli::export_weights::ExportWeightsArgs),
    /// The built-in end-to-end run: keys, attestation, sealed MNIST, training killed and resumed, evaluation.
    Demo(cli::demo::DemoArgs),
    /// Secure, crash-resilient training: sealed data and a sealed mirror in a pool.
    Train(cli::train::TrainArgs),
    /// The model of a training job's pool, sealed for its owner.
    Export(cli::export::ExportArgs),
    /// A pool's header, state, sizes, mirror mode, iteration, import status (no secrets).
    Inspect(cli::inspect::InspectArgs),
    /// Crash resilience: SIGKILL training N times, resume, compare with an uninterrupted run (Fig. 9).
    CrashTest(cli::crash_test::CrashTestArgs),
    /// Training on a spot instance: replay a price or availability trace, killing and resuming (Fig. 10).
    Spot(cli::spot::SpotArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => cli::info::run(),
        Command::Owner(cmd) => cli::owner::run(cmd),
        Command::Enclave(cmd) => cli::enclave::run(cmd),
        Command::Cfg(cmd) => cli::cfg::run(cmd),
        Command::TrainPlain(a) => cli::train_plain::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::ExportWeights(a) => cli::export_weights::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Train(a) => cli::train::run(a),
        Command::Export(a) => cli::export::run(a),
        Command::Inspect(a) => cli::inspect::run(a),
        Command::CrashTest(a) => cli::crash_test::run(a),
        Command::Spot(a) => cli::spot::run(a),
        Command::Bench(c) => cli::bench::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", host::error::chain(e.as_ref()));
            std::process::ExitCode::from(2)
        }
    }
}
