//! `plinius demo`: the built-in end-to-end run (see `host::demo`), step by
//! step with what each step did.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use host::demo::{Demo, DemoOptions, DemoSummary};

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

fn step(n: usize, what: &str) {
    println!("\n[{n}/8] {what}");
}

/// Steps 1 to 4: keys, attestation, provisioning, the sealed dataset.
fn owner_steps(d: &mut Demo, bars: &mut Bars) -> anyhow::Result<()> {
    step(1, "owner: generate the key file (dataset key, model key)");
    println!("{}", d.keygen()?);
    step(2, "enclave: attestation evidence for the owner's nonce");
    println!("{}", d.evidence(bars)?);
    step(
        3,
        "owner: verify the evidence, seal the keys to the enclave (HPKE)",
    );
    super::owner::print_provisioned(&d.provision()?);
    step(
        4,
        "owner: seal the MNIST training set, one AES-GCM record per image",
    );
    println!("{}", d.seal(bars)?);
    Ok(())
}

/// Steps 5 and 6: training in a child process, killed, and resumed.
/// Returns the iteration after which it was killed, if it was.
fn train_steps(d: &Demo) -> anyhow::Result<Option<u64>> {
    step(
        5,
        &format!(
            "host: plinius train (child process): create the pool, import the sealed data, train {} iterations, \
             mirroring the sealed model after each",
            d.options().iterations
        ),
    );
    let killed_after = d.train_and_kill()?;
    match killed_after {
        Some(done) => {
            eprintln!();
            step(
                6,
                &format!(
                    "CRASH: the demo SIGKILLed the training process after iteration {done}; starting it again \
                     (no --data, no --bundle: the pool holds them sealed)"
                ),
            );
        }
        None => step(
            6,
            "the training process finished before the planned kill (nothing to resume)",
        ),
    }
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
    step(
        7,
        "enclave: mirror-in and evaluate on the 10,000 MNIST test images",
    );
    let ev = d.evaluate()?;
    println!(
        "test accuracy: {:.2}% at iteration {}",
        ev.accuracy * 100.0,
        ev.iteration
    );
    step(
        8,
        "host: export the model sealed for its owner; owner: open it as Darknet .weights",
    );
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
