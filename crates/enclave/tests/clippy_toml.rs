//! The trusted crates (wire, ptm, nn, seal, enclave) share one I/O ban: their
//! `clippy.toml` files must be identical and cover files, sockets,
//! processes, the environment and printing.
// Tests may do I/O.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::path::Path;

const TRUSTED: [&str; 5] = ["wire", "ptm", "nn", "seal", "enclave"];

fn read(krate: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("clippy.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_trusted_crate_has_the_same_clippy_toml() {
    let enclave = read("enclave");
    for k in TRUSTED {
        assert_eq!(
            read(k),
            enclave,
            "crates/{k}/clippy.toml differs from crates/enclave/clippy.toml"
        );
    }
}

#[test]
fn the_ban_covers_files_sockets_processes_environment_and_printing() {
    let t = read("enclave");
    for needle in [
        "\"std::fs::File\"",
        "\"std::fs::OpenOptions\"",
        "\"std::fs::read\"",
        "\"std::fs::write\"",
        "\"std::fs::remove_file\"",
        "\"std::path::Path::exists\"",
        "\"std::net::TcpStream\"",
        "\"std::os::unix::net::UnixStream\"",
        "\"std::process::Command\"",
        "\"std::process::exit\"",
        "\"std::env::var\"",
        "\"std::env::args\"",
        "\"std::env::set_var\"",
        "\"std::env::current_dir\"",
        "\"std::println\"",
        "\"std::eprintln\"",
        "\"std::dbg\"",
    ] {
        assert!(t.contains(needle), "clippy.toml does not ban {needle}");
    }
    for section in [
        "disallowed-types",
        "disallowed-methods",
        "disallowed-macros",
    ] {
        assert!(t.contains(section), "clippy.toml has no {section}");
    }
}
