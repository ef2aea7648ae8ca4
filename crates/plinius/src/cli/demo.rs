//! `plinius demo`: the built-in end-to-end run (see `host::demo`), step by
//! step with what each step did.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use host::demo::{Demo, DemoOptions, DemoSummary, Step};

use super::args::{MirrorModeArg, MnistArg, ModelArg, ThreadsArg};
use super::progress::Bars;

/// Arguments of `plinius demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub cfg: ModelArg,
    #[command(flatten)]
    pub mnist: MnistArg,
    /// Training iterations (batches of 128 images).
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    /// Kill the training process after this many iterations (default: half-way).
    #[arg(long)]
    pub kill_at: Option<u64>,
    #[command(flatten)]
    pub mirror: MirrorModeArg,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Keep every file in this directory (pool included) instead of temporary ones.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Steps 1 to 4: keys, attestation, provisioning, the sealed dataset.
fn owner_steps(d: &mut Demo, bars: &mut Bars) -> anyhow::Result<()> {
    println!("{}", Step::Keygen);
    println!("{}", d.keygen()?);
    println!("{}", Step::Evidence);
    println!("{}", d.evidence(bars)?);
    println!("{}", Step::Provision);
    super::owner::print_provisioned(&d.provision()?);
    println!("{}", Step::Seal);
    println!("{}", d.seal(bars)?);
    Ok(())
}

/// Steps 5 and 6: training in a child process, killed, and resumed.
/// Returns the iteration after which it was killed, if it was.
fn train_steps(d: &Demo) -> anyhow::Result<Option<u64>> {
    println!("{}", Step::Train(d.options().iterations));
    let killed_after = d.train_and_kill()?;
    if killed_after.is_some() {
        eprintln!();
    }
    println!("{}", Step::Resume(killed_after));
    d.resume()?;
    Ok(killed_after)
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    let mut d = Demo::new(DemoOptions {
        cfg: a.cfg.cfg,
        mnist: a.mnist.mnist,
        iterations: a.iterations,
        kill_at: a.kill_at,
        mirror: a.mirror.mode(),
        threads: a.threads.threads,
        dir: a.dir.clone(),
        exe,
    })?;
    println!("{d}");
    owner_steps(&mut d, &mut Bars::new(false))?;
    let t_train = Instant::now();
    let killed_after = train_steps(&d)?;
    let train_seconds = t_train.elapsed().as_secs_f64();
    println!("{}", Step::Evaluate);
    let ev = d.evaluate()?;
    println!(
        "test accuracy: {:.2}% at iteration {}",
        ev.accuracy * 100.0,
        ev.iteration
    );
    println!("{}", Step::Export);
    let (sealed, opened) = d.export()?;
    let model = d.file("model.sealed");
    println!("{}", host::export::summary(&d.pool(), &model, &sealed));
    println!("{opened}");
    let summary = DemoSummary {
        cfg: d.options().cfg.clone(),
        iterations: ev.iteration,
        killed_after,
        accuracy: ev.accuracy,
        train_seconds,
        total_seconds: t0.elapsed().as_secs_f64(),
        kept_in: a.dir.map(|_| d.work_dir().to_path_buf()),
    };
    println!("{summary}");
    Ok(())
}
