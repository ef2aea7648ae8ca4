//! `plinius export-weights`: a model's initial weights in Darknet's format,
//! so Darknet and Plinius can start from the same parameters.

use std::path::PathBuf;

use clap::Args;

use super::progress::Bars;

/// Arguments of `plinius export-weights` (plain form).
#[derive(Args, Debug, Clone)]
pub struct ExportWeightsArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// The .weights file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the initial weights (the same seed gives the same weights as
    /// `train-plain --seed`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `plinius export-weights`.
pub fn run(a: ExportWeightsArgs) -> anyhow::Result<()> {
    let params =
        host::plaintext::export_initial_weights(&a.cfg, a.seed, &a.out, &mut Bars::new(true))?;
    println!(
        "wrote {} ({params} parameters, Darknet .weights 0.2.0)",
        a.out.display()
    );
    Ok(())
}
