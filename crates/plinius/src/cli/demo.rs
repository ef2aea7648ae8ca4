//! `plinius demo`: the built-in end-to-end run (see `host::demo`), step by
//! step with what each step did.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use host::demo::{Demo, DemoOptions};

use super::args::MirrorArg;
use super::progress::Bars;

/// Arguments of `plinius demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The model.
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Training iterations (batches of 128 images).
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    /// Kill the training process after this many iterations (default: half-way).
    #[arg(long)]
    pub kill_at: Option<u64>,
    /// Mirror mode.
    #[arg(long, value_enum, default_value = "romulus")]
    pub mirror: MirrorArg,
    /// Worker threads of the training process (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep every file in this directory (pool included) instead of temporary ones.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn step(n: usize, what: &str) {
    println!("\n[{n}/8] {what}");
}

fn header(d: &Demo) {
    println!(
        "Plinius demo: secure, crash-resilient training of {} on MNIST",
        d.options().cfg.display()
    );
    println!("  files: {}", d.work_dir().display());
    println!(
        "  pool:  {}{}",
        d.pool().display(),
        if d.pool_in_memory() {
            " (memory standing in for PM)"
        } else {
            ""
        }
    );
    println!("  attestation: the SIMULATED platform (insecure, for development: no TEE needed)");
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

/// Runs the demo.
pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    let mut d = Demo::new(DemoOptions {
        cfg: a.cfg,
        mnist: a.mnist,
        iterations: a.iterations,
        kill_at: a.kill_at,
        mirror: a.mirror.into(),
        threads: a.threads,
        dir: a.dir.clone(),
        exe,
    })?;
    header(&d);
    let mut bars = Bars::new(false);
    owner_steps(&mut d, &mut bars)?;
    step(
        5,
        &format!(
            "host: plinius train (child process): create the pool, import the sealed data, train {} iterations, \
             mirroring the sealed model after each",
            a.iterations
        ),
    );
    let t_train = Instant::now();
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
    let train_s = t_train.elapsed().as_secs_f64();
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
    super::export::print(&d.pool(), &d.file("model.sealed"), &sealed);
    println!("{opened}");
    println!("\nSummary");
    println!(
        "  model:          {} ({} iterations of 128 images)",
        d.options().cfg.display(),
        ev.iteration
    );
    match killed_after {
        Some(k) => println!(
            "  crash:          SIGKILL after iteration {k}; resumed from the last mirror, nothing lost"
        ),
        None => println!("  crash:          none (training ended before the planned kill)"),
    }
    println!("  test accuracy:  {:.2}%", ev.accuracy * 100.0);
    println!(
        "  training time:  {train_s:.1} s (both processes); whole demo {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  sealed outside the enclave: the dataset, the mirrored model (weights, optimizer, RNG states), the keys, the export"
    );
    if a.dir.is_some() {
        println!("  files kept in {}", d.work_dir().display());
    }
    Ok(())
}
