//! `plinius info`: what this build and this machine offer Plinius.

/// CPU features that matter to Plinius (AES, wide vectors; the cache-line flush
/// instructions are probed by `ptm`),
/// each with whether this CPU has it.
pub fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("clflush", std::arch::is_x86_feature_detected!("sse2")),
            ("aes", std::arch::is_x86_feature_detected!("aes")),
            ("vaes", std::arch::is_x86_feature_detected!("vaes")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// Prints the version, the hardware threads and the CPU features.
pub fn run() -> anyhow::Result<()> {
    println!("plinius {}", env!("CARGO_PKG_VERSION"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("hardware threads: {threads}");
    for (name, present) in cpu_features() {
        println!("  {name:<11} {}", if present { "yes" } else { "no" });
    }
    Ok(())
}
