//! The configfs-tsm report producer: the Linux interface through which TDX
//! and SEV-SNP guests obtain attestation reports
//! (`/sys/kernel/config/tsm/report`, kernel ABI `configfs-tsm`). The report
//! format ([`TsmEvidence`]) and its verifier are in [`seal::evidence::tsm`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, EvidenceProvider, ReportData};
use seal::{Result, SealError};

/// Where the kernel exposes configfs-tsm reports.
pub const DEFAULT_TSM_ROOT: &str = "/sys/kernel/config/tsm/report";

fn io_err(path: PathBuf, source: std::io::Error) -> SealError {
    SealError::Io { path, source }
}

/// Produces reports through configfs-tsm.
#[derive(Clone, Debug)]
pub struct TsmProvider {
    /// The configfs-tsm report directory (default [`DEFAULT_TSM_ROOT`]).
    pub root: PathBuf,
    /// Use this existing entry instead of creating (and removing) a private one.
    pub entry: Option<String>,
}

impl Default for TsmProvider {
    fn default() -> Self {
        TsmProvider {
            root: PathBuf::from(DEFAULT_TSM_ROOT),
            entry: None,
        }
    }
}

/// Removes an entry this process created when the report is done.
struct EntryGuard(Option<PathBuf>);

impl Drop for EntryGuard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = fs::remove_dir(p);
        }
    }
}

fn read_attr(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let p = dir.join(name);
    fs::read(&p).map_err(|e| io_err(p, e))
}

fn read_u64_attr(dir: &Path, name: &str) -> Result<u64> {
    let raw = read_attr(dir, name)?;
    let s = String::from_utf8_lossy(&raw);
    s.trim().parse().map_err(|_| SealError::Format {
        what: format!("{}", dir.join(name).display()),
        reason: format!("not a number: {:?}", s.trim()),
    })
}

impl EvidenceProvider for TsmProvider {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence> {
        if !self.root.is_dir() {
            return Err(SealError::Evidence(format!(
                "{}: no configfs-tsm report directory (not a TDX/SEV-SNP guest, or configfs \
                 not mounted)",
                self.root.display()
            )));
        }
        let (dir, _guard) = match &self.entry {
            Some(name) => (self.root.join(name), EntryGuard(None)),
            None => {
                let mut tag = [0u8; 8];
                seal::key::random_fill(&mut tag)?;
                let dir = self.root.join(format!(
                    "plinius-{}-{}",
                    std::process::id(),
                    hex::encode(tag)
                ));
                fs::create_dir(&dir).map_err(|e| io_err(dir.clone(), e))?;
                (dir.clone(), EntryGuard(Some(dir)))
            }
        };
        let before = read_u64_attr(&dir, "generation")?;
        let inblob = dir.join("inblob");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&inblob)
            .map_err(|e| io_err(inblob.clone(), e))?;
        f.write_all(report_data)
            .map_err(|e| io_err(inblob.clone(), e))?;
        drop(f);
        let outblob = read_attr(&dir, "outblob")?;
        let provider = String::from_utf8_lossy(&read_attr(&dir, "provider")?)
            .trim()
            .to_string();
        let auxblob = if dir.join("auxblob").exists() {
            // The kernel fails the read when the provider has no aux data.
            read_attr(&dir, "auxblob").unwrap_or_default()
        } else {
            Vec::new()
        };
        let after = read_u64_attr(&dir, "generation")?;
        if after != before + 1 {
            return Err(SealError::Evidence(format!(
                "{}: generation went from {before} to {after} while producing the report: \
                 another process wrote this entry; retry",
                dir.display()
            )));
        }
        if outblob.is_empty() {
            return Err(SealError::Evidence(format!(
                "{}: empty outblob",
                dir.display()
            )));
        }
        Ok(Evidence::Tsm(TsmEvidence {
            provider,
            generation: after,
            outblob,
            auxblob,
        }))
    }
}
