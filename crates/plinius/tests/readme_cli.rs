//! The README's first command is `cargo run --release -- demo` from the
//! repository root: cargo must be able to pick the binary to run there.

use std::path::Path;
use std::process::Command;

/// `cargo run` at the root of the workspace runs the default members' only
/// binary; with several binaries (ptm has a helper for its crash test) it
/// refuses to guess. The workspace's default members must therefore hold
/// exactly one binary, `plinius`.
#[test]
fn cargo_run_at_the_root_picks_the_plinius_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON metadata");
    let defaults: Vec<&str> = meta["workspace_default_members"]
        .as_array()
        .expect("workspace_default_members")
        .iter()
        .map(|v| v.as_str().expect("package id"))
        .collect();
    let mut bins = Vec::new();
    for pkg in meta["packages"].as_array().expect("packages") {
        if !defaults.contains(&pkg["id"].as_str().expect("id")) {
            continue;
        }
        for t in pkg["targets"].as_array().expect("targets") {
            if t["kind"]
                .as_array()
                .expect("kind")
                .iter()
                .any(|k| k == "bin")
            {
                bins.push(t["name"].as_str().expect("name").to_string());
            }
        }
    }
    assert_eq!(
        bins,
        ["plinius"],
        "`cargo run` at the root would have to choose among these binaries"
    );
}
