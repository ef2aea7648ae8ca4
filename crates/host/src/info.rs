//! What this build and this machine offer Plinius (`plinius info`).

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

/// The cache-line flush instructions (probed with CPUID by `ptm`).
pub fn flush_features() -> Vec<(&'static str, bool)> {
    let s = ptm::cpu_flush_support();
    vec![("clwb", s.clwb), ("clflushopt", s.clflushopt)]
}

/// The flush strategy a pool in /dev/shm would get (`PLINIUS_FLUSH` first),
/// or why there is none.
pub fn shm_strategy() -> String {
    let shm = std::path::Path::new("/dev/shm");
    match ptm::FlushStrategy::from_env() {
        Ok(Some(s)) => format!("{s} (from PLINIUS_FLUSH)"),
        Err(e) => format!("invalid PLINIUS_FLUSH: {e}"),
        Ok(None) if !shm.is_dir() => "no /dev/shm".to_string(),
        Ok(None) => {
            let s = ptm::flush::auto_strategy(shm, false);
            let why = if ptm::flush::is_tmpfs(shm) {
                "tmpfs: emulated PM"
            } else {
                "not tmpfs"
            };
            format!("{s} ({why})")
        }
    }
}

/// Hardware threads of this machine (1 if unknown).
pub fn hardware_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// What `plinius info` shows: this build, the hardware threads, the CPU
/// features and the flush strategy a pool in /dev/shm would use.
#[derive(Debug, Clone)]
pub struct Info {
    /// The version of this build.
    pub version: &'static str,
    /// [`hardware_threads`].
    pub threads: usize,
    /// [`cpu_features`] then [`flush_features`].
    pub features: Vec<(&'static str, bool)>,
    /// [`shm_strategy`].
    pub shm_strategy: String,
}

impl Info {
    /// Probes this machine.
    pub fn probe() -> Info {
        Info {
            version: env!("CARGO_PKG_VERSION"),
            threads: hardware_threads(),
            features: cpu_features().into_iter().chain(flush_features()).collect(),
            shm_strategy: shm_strategy(),
        }
    }
}

impl std::fmt::Display for Info {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "plinius {}", self.version)?;
        writeln!(f, "hardware threads: {}", self.threads)?;
        for (name, present) in &self.features {
            writeln!(f, "  {name:<11} {}", if *present { "yes" } else { "no" })?;
        }
        write!(f, "PM flush for a pool in /dev/shm: {}", self.shm_strategy)
    }
}
