//! Computes the enclave's measurement: a build identity of the trusted code.
//!
//! SHA-384 over, in this order:
//! - a domain tag;
//! - for every workspace crate the enclave links (this crate and, found by
//!   following its `[dependencies]` that are path dependencies, directly or
//!   through the root manifest's `[workspace.dependencies]`, recursively), in
//!   name order: its name, its `Cargo.toml`, and every `*.rs` file under its
//!   `src/` (sorted relative paths, each with its length). Test code is left
//!   out: any directory named `tests` under `src/` and any file named
//!   `tests.rs`. Build scripts, benches, examples and dev-dependencies are not
//!   linked into the enclave, so they are not covered;
//! - the workspace's `Cargo.lock` (the exact versions of every dependency);
//! - the compiler's version (`$RUSTC -vV`).
//!
//! So a change to any trusted source, a dependency's version or the compiler
//! changes the measurement. It is not a hardware measurement: on a real TEE
//! the platform measures the image that contains the binary.
//!
//! The build script runs on the build machine, not in the enclave: it may read
//! the sources, its environment, run the compiler, and print `cargo:`
//! directives (the crate's clippy.toml forbids such I/O to the enclave code).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use sha2::{Digest, Sha384};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Domain tag of the measurement (v2: every linked crate, Cargo.lock, rustc).
const DOMAIN: &[u8] = b"plinius/enclave-measurement/v2\0";

fn read(path: &Path) -> Vec<u8> {
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `*.rs` files under `dir`, sorted, test code excluded (see the crate doc).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    // A directory's listing changes when a file is added or removed.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() {
            if name != "tests" {
                collect(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") && name != "tests.rs" {
            out.push(p);
        }
    }
}

/// The value of `key = "value"` in a TOML inline table or line (`None` when absent).
fn string_value(text: &str, key: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = rest[i + key.len()..].trim_start();
        if let Some(v) = after.strip_prefix('=').filter(|_| before_ok) {
            let v = v.trim_start().strip_prefix('"')?;
            return Some(v[..v.find('"')?].to_string());
        }
        rest = &rest[i + key.len()..];
    }
    None
}

/// The entries of the `[section]` table of a manifest: (name, right-hand side).
/// Handles `name = ...` (single-line values, as TOML inline tables are) and
/// `name.workspace = true` lines; `[dependencies.name]` tables are not used in
/// this workspace (a unit test pins the crates found).
fn section(manifest: &str, section: &str) -> Vec<(String, String)> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, rhs)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let (name, rhs) = match name.strip_suffix(".workspace") {
            Some(n) => (n.trim(), "{ workspace = true }".to_string()),
            None => (name, rhs.trim().to_string()),
        };
        out.push((name.trim_matches('"').to_string(), rhs));
    }
    out
}

/// The workspace crates the crate at `dir` links: itself and its path
/// dependencies, recursively (name -> directory).
fn linked_crates(dir: &Path, workspace: &Path, found: &mut BTreeMap<String, PathBuf>) {
    let root_manifest = read_text(&workspace.join("Cargo.toml"));
    let workspace_paths: BTreeMap<String, String> =
        section(&root_manifest, "workspace.dependencies")
            .into_iter()
            .filter_map(|(name, rhs)| Some((name, string_value(&rhs, "path")?)))
            .collect();
    let manifest = read_text(&dir.join("Cargo.toml"));
    let (_, name) = section(&manifest, "package")
        .into_iter()
        .find(|(k, _)| k == "name")
        .unwrap_or_else(|| panic!("{}: no package name", dir.display()));
    let name = name.trim().trim_matches('"').to_string();
    if found.insert(name, dir.to_path_buf()).is_some() {
        return;
    }
    for (dep, rhs) in section(&manifest, "dependencies") {
        let path = match string_value(&rhs, "path") {
            Some(p) => Some(dir.join(p)),
            None if rhs.contains("workspace") => {
                workspace_paths.get(&dep).map(|p| workspace.join(p))
            }
            None => None,
        };
        if let Some(p) = path {
            linked_crates(&p, workspace, found);
        }
    }
}

fn update_named(h: &mut Sha384, name: &str, body: &[u8]) {
    h.update((name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update((body.len() as u64).to_le_bytes());
    h.update(body);
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(&rustc)
        .arg("-vV")
        .output()
        .unwrap_or_else(|e| panic!("{rustc} -vV: {e}"));
    assert!(out.status.success(), "{rustc} -vV failed");
    String::from_utf8(out.stdout).expect("rustc -vV prints UTF-8")
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = root.join("../..");
    let mut crates = BTreeMap::new();
    linked_crates(&root, &workspace, &mut crates);
    let mut h = Sha384::new();
    h.update(DOMAIN);
    for (name, dir) in &crates {
        let mut files = vec![dir.join("Cargo.toml")];
        collect(&dir.join("src"), &mut files);
        h.update(b"crate\0");
        update_named(&mut h, name, &[]);
        for f in &files {
            let rel = f.strip_prefix(dir).expect("inside the crate");
            let rel = rel.to_string_lossy().replace('\\', "/");
            update_named(&mut h, &rel, &read(f));
        }
    }
    update_named(&mut h, "Cargo.lock", &read(&workspace.join("Cargo.lock")));
    let rustc = rustc_version();
    update_named(&mut h, "rustc -vV", rustc.as_bytes());
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
    let digest = h.finalize();
    let bytes: Vec<String> = digest.iter().map(|b| format!("{b:#04x}")).collect();
    let names: Vec<String> = crates.keys().map(|n| format!("{n:?}")).collect();
    let rustc_line = rustc.lines().next().unwrap_or_default().trim().to_string();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("measurement.rs");
    std::fs::write(
        &out,
        format!(
            "/// The enclave's measurement, computed at build time: SHA-384 over the\n\
             /// sources of every workspace crate it links ([`MEASURED_CRATES`], tests\n\
             /// excluded), the workspace's `Cargo.lock` and the compiler version\n\
             /// ([`MEASURED_RUSTC`]). A build identity of the trusted code, not a\n\
             /// hardware measurement.\n\
             pub const MEASUREMENT: [u8; 48] = [{}];\n\
             /// The workspace crates whose sources [`MEASUREMENT`] covers (name order).\n\
             pub const MEASURED_CRATES: &[&str] = &[{}];\n\
             /// The compiler [`MEASUREMENT`] covers (first line of `rustc -vV`; the\n\
             /// whole output is hashed).\n\
             pub const MEASURED_RUSTC: &str = {rustc_line:?};\n",
            bytes.join(", "),
            names.join(", "),
        ),
    )
    .expect("write measurement.rs");
}
