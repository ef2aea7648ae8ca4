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
    CrashTest(experiments::crashtest::CrashTestArgs),
    /// Training on a spot instance: replay a price or availability trace, killing and resuming (Fig. 10).
    Spot(experiments::spot::SpotArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// SPS: transactions of N random swaps in a persistent array (Fig. 6).
    Sps(experiments::sps::SpsArgs),
    /// AES-256-GCM seal/open throughput on one core (4 KiB, 1 MiB, 64 MiB).
    Seal(experiments::benchseal::BenchSealArgs),
    /// Training speed of a model: ms/iteration, images/s, GFLOP/s.
    Train(experiments::benchtrain::BenchTrainArgs),
    /// Save/restore of the sealed model: mirror on PM vs ssd checkpoint (Fig. 7, Table I).
    Mirror(experiments::benchmirror::BenchMirrorArgs),
    /// Time per iteration on sealed vs plain batches against batch size (Fig. 8).
    Decrypt(experiments::benchdecrypt::BenchDecryptArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => host::info::run(),
        Command::Bench(BenchCommand::Sps(a)) => experiments::sps::run(a),
        Command::Owner(cmd) => host::owner::run(cmd),
        Command::Enclave(cmd) => host::evidence::run(cmd),
        Command::Bench(BenchCommand::Seal(a)) => experiments::benchseal::run(a),
        Command::Cfg(cmd) => host::cfgcheck::run(cmd),
        Command::TrainPlain(a) => host::plain::run_train(a),
        Command::Eval(a) => host::plain::run_eval(a),
        Command::ExportWeights(a) => host::plain::run_export(a),
        Command::Demo(a) => host::demo::run(a),
        Command::Train(a) => host::train::run(a),
        Command::Export(a) => host::export::run_export(a),
        Command::Inspect(a) => host::inspect::run(a),
        Command::CrashTest(a) => experiments::crashtest::run(a),
        Command::Spot(a) => experiments::spot::run(a),
        Command::Bench(BenchCommand::Mirror(a)) => experiments::benchmirror::run(a),
        Command::Bench(BenchCommand::Decrypt(a)) => experiments::benchdecrypt::run(a),
        Command::Bench(BenchCommand::Train(a)) => experiments::benchtrain::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", host::errors::chain(&e));
            std::process::ExitCode::from(2)
        }
    }
}
