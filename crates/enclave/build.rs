//! Computes the enclave's measurement: SHA-384 over the crate's version, its
//! manifest, this build script and every source file under `src/` (sorted
//! paths, each with its length), so any change to the trusted code changes it.
//!
//! The build script runs on the build machine, not in the enclave: it may read
//! the sources, its environment, and print `cargo:` directives (the crate's
//! clippy.toml forbids such I/O to the enclave code).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use sha2::{Digest, Sha384};
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("Cargo.toml"), root.join("build.rs")];
    collect(&root.join("src"), &mut files);
    let mut h = Sha384::new();
    h.update(b"plinius/enclave-measurement/v1\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for f in &files {
        let rel = f.strip_prefix(&root).expect("inside the crate");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let body = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update((body.len() as u64).to_le_bytes());
        h.update(&body);
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rerun-if-changed={}", root.join("src").display());
    let digest = h.finalize();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("measurement.rs");
    let bytes: Vec<String> = digest.iter().map(|b| format!("{b:#04x}")).collect();
    std::fs::write(
        &out,
        format!(
            "/// The enclave's measurement (SHA-384 of its sources), computed at build time.\n\
             pub const MEASUREMENT: [u8; 48] = [{}];\n",
            bytes.join(", ")
        ),
    )
    .expect("write measurement.rs");
}
