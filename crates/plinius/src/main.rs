//! The `plinius` command line. Parsing and dispatch only: every command's work
//! is done by the `plinius` library and the crates below it.

use clap::{Parser, Subcommand};

mod cli {
    pub mod bench;
    pub mod crash_test;
    pub mod spot;
}

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
    Owner(host::owner::OwnerCommand),
    /// The enclave side of key provisioning: evidence, accepting the key bundle.
    #[command(subcommand)]
    Enclave(host::evidence::EnclaveCommand),
    /// Darknet .cfg model files.
    #[command(subcommand)]
    Cfg(host::cfgcheck::CfgCommand),
    /// Plaintext training on MNIST (no PM, no sealing): the baseline.
    TrainPlain(host::plain::TrainPlainArgs),
    /// Test accuracy of a model on MNIST.
    Eval(host::plain::EvalArgs),
    /// Write a model's weights in Darknet's .weights format.
    ExportWeights(host::plain::ExportWeightsArgs),
    /// The built-in end-to-end run: keys, attestation, sealed MNIST, training killed and resumed, evaluation.
    Demo(host::demo::DemoArgs),
    /// Secure, crash-resilient training: sealed data and a sealed mirror in a pool.
    Train(host::train::TrainArgs),
    /// The model of a training job's pool, sealed for its owner.
    Export(host::export::ExportArgs),
    /// A pool's header, state, sizes, mirror mode, iteration, import status (no secrets).
    Inspect(host::inspect::InspectArgs),
    /// Crash resilience: SIGKILL training N times, resume, compare with an uninterrupted run (Fig. 9).
    CrashTest(cli::crash_test::CrashTestArgs),
    /// Training on a spot instance: replay a price or availability trace, killing and resuming (Fig. 10).
    Spot(cli::spot::SpotArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => host::info::run(),
        Command::Owner(cmd) => host::owner::run(cmd),
        Command::Enclave(cmd) => host::evidence::run(cmd),
        Command::Cfg(cmd) => host::cfgcheck::run(cmd),
        Command::TrainPlain(a) => host::plain::run_train(a),
        Command::Eval(a) => host::plain::run_eval(a),
        Command::ExportWeights(a) => host::plain::run_export(a),
        Command::Demo(a) => host::demo::run(a),
        Command::Train(a) => host::train::run(a),
        Command::Export(a) => host::export::run_export(a),
        Command::Inspect(a) => host::inspect::run(a),
        Command::CrashTest(a) => cli::crash_test::run(a),
        Command::Spot(a) => cli::spot::run(a),
        Command::Bench(c) => cli::bench::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", host::errors::chain(&e));
            std::process::ExitCode::from(2)
        }
    }
}
