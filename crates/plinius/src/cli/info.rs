//! `plinius info`: this build, the hardware threads, the CPU features and the
//! flush strategy a pool in /dev/shm would use.

/// Prints what this build and this machine offer Plinius.
pub fn run() -> anyhow::Result<()> {
    println!("{}", host::info::Info::probe());
    Ok(())
}
