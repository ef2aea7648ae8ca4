//! `plinius info`: this build, the hardware threads, the CPU features and the
//! flush strategy a pool in /dev/shm would use.

use host::info;

/// Prints what this build and this machine offer Plinius.
pub fn run() -> anyhow::Result<()> {
    println!("plinius {}", env!("CARGO_PKG_VERSION"));
    println!("hardware threads: {}", info::hardware_threads());
    for (name, present) in info::cpu_features()
        .into_iter()
        .chain(info::flush_features())
    {
        println!("  {name:<11} {}", if present { "yes" } else { "no" });
    }
    println!("PM flush for a pool in /dev/shm: {}", info::shm_strategy());
    Ok(())
}
