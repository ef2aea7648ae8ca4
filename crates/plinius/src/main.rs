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
    /// The data owner's commands: keys, sealed datasets, key provisioning.
    #[command(subcommand)]
    Owner(plinius::owner::OwnerCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => plinius::info::run(),
        Command::Owner(cmd) => plinius::owner::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
