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
    /// Darknet .cfg model files.
    #[command(subcommand)]
    Cfg(plinius::cfgcheck::CfgCommand),
    /// Plaintext training on MNIST (no PM, no sealing): the baseline.
    TrainPlain(plinius::plain::TrainPlainArgs),
    /// Test accuracy of a model on MNIST.
    Eval(plinius::plain::EvalArgs),
    /// Write a model's weights in Darknet's .weights format.
    ExportWeights(plinius::plain::ExportWeightsArgs),
    /// The built-in end-to-end run: keys, attestation, sealed MNIST, training killed and resumed, evaluation.
    Demo(plinius::demo::DemoArgs),
    /// Secure, crash-resilient training: sealed data and a sealed mirror in a pool.
    Train(plinius::train::TrainArgs),
    /// The model of a training job's pool, sealed for its owner.
    Export(plinius::export::ExportArgs),
    /// A pool's header, state, sizes, mirror mode, iteration, import status (no secrets).
    Inspect(plinius::inspect::InspectArgs),
    /// Crash resilience: SIGKILL training N times, resume, compare with an uninterrupted run (Fig. 9).
    CrashTest(plinius::crashtest::CrashTestArgs),
    /// Training on a spot instance: replay a price or availability trace, killing and resuming (Fig. 10).
    Spot(plinius::spot::SpotArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// SPS: transactions of N random swaps in a persistent array (Fig. 6).
    Sps(plinius::sps::SpsArgs),
    /// AES-256-GCM seal/open throughput on one core (4 KiB, 1 MiB, 64 MiB).
    Seal(plinius::benchseal::BenchSealArgs),
    /// Training speed of a model: ms/iteration, images/s, GFLOP/s.
    Train(plinius::benchtrain::BenchTrainArgs),
    /// Save/restore of the sealed model: mirror on PM vs ssd checkpoint (Fig. 7, Table I).
    Mirror(plinius::benchmirror::BenchMirrorArgs),
    /// Time per iteration on sealed vs plain batches against batch size (Fig. 8).
    Decrypt(plinius::benchdecrypt::BenchDecryptArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => plinius::info::run(),
        Command::Bench(BenchCommand::Sps(a)) => plinius::sps::run(a),
        Command::Owner(cmd) => plinius::owner::run(cmd),
        Command::Enclave(cmd) => plinius::evidence::run(cmd),
        Command::Bench(BenchCommand::Seal(a)) => plinius::benchseal::run(a),
        Command::Cfg(cmd) => plinius::cfgcheck::run(cmd),
        Command::TrainPlain(a) => plinius::plain::run_train(a),
        Command::Eval(a) => plinius::plain::run_eval(a),
        Command::ExportWeights(a) => plinius::plain::run_export(a),
        Command::Demo(a) => plinius::demo::run(a),
        Command::Train(a) => plinius::train::run(a),
        Command::Export(a) => plinius::export::run_export(a),
        Command::Inspect(a) => plinius::inspect::run(a),
        Command::CrashTest(a) => plinius::crashtest::run(a),
        Command::Spot(a) => plinius::spot::run(a),
        Command::Bench(BenchCommand::Mirror(a)) => plinius::benchmirror::run(a),
        Command::Bench(BenchCommand::Decrypt(a)) => plinius::benchdecrypt::run(a),
        Command::Bench(BenchCommand::Train(a)) => plinius::benchtrain::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", plinius::errors::chain(&e));
            std::process::ExitCode::from(2)
        }
    }
}
