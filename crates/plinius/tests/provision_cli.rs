//! The two-terminal provisioning flow through the real binary, with files:
//! owner keygen, seal-dataset, enclave evidence, owner provision, enclave
//! accept; then tampering, a wrong measurement, a stale nonce, disallowed
//! simulation, and a scan of every file the host side writes for key bytes
//! and plaintext pixels.

use std::path::Path;

use hostio::keyfile::read_key_file;

mod common;
use common::{Env, contains, field, mnist_dir};

impl Env {
    /// `enclave accept` arguments: the session state `state` takes the key
    /// bundle `bundle` and seals its keys to `out` (names in the scratch
    /// directory).
    fn accept_args(&self, state: &str, bundle: &str, out: &str) -> Vec<String> {
        self.file_args(
            &["enclave", "accept"],
            &[("--state", state), ("--bundle", bundle), ("--out", out)],
        )
    }
}

#[test]
fn two_terminal_flow_end_to_end() {
    let e = Env::new();
    // Owner.
    e.keygen_and_seal(32);
    let nonce = e.nonce();
    assert_eq!(nonce.len(), 64);
    // Enclave: the platform is created on first use, with a message.
    let out = e.run(&e.evidence_args(&nonce, "evidence.bin", "session.state"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("created the SIMULATED platform"));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let measurement = field(&stdout, "measurement:").to_string();
    assert_eq!(measurement, e.ok(&["enclave", "measurement"]).trim());
    // --verbose: the same digest first, then what it covers.
    let verbose = e.ok(&["enclave", "measurement", "--verbose"]);
    let mut lines = verbose.lines();
    assert_eq!(lines.next(), Some(measurement.as_str()));
    assert!(
        verbose.contains("enclave, nn, ptm, seal, wire"),
        "{verbose}"
    );
    assert!(verbose.contains("Cargo.lock"), "{verbose}");
    assert!(verbose.contains("compiler rustc "), "{verbose}");
    assert!(verbose.contains("not a hardware measurement"), "{verbose}");
    // Owner verifies and provisions (same machine: platform key read from the directory).
    let stdout = e.provision("evidence.bin", &nonce, &measurement, "bundle.sealed");
    assert!(stdout.contains("verified sim evidence"), "{stdout}");
    // Enclave accepts, seals the keys to the platform.
    let stdout = e.ok(&e.accept_args("session.state", "bundle.sealed", "keys.sealed"));
    let owner = read_key_file(Path::new(&e.p("owner.key"))).unwrap();
    assert!(
        stdout.contains(&owner.dataset.key().fingerprint()),
        "{stdout}"
    );
    // The keys come back from the platform after a "restart", without the
    // owner (this test links the same enclave crate, so its measurement is
    // the binary's).
    let back = host::enclave_side::load_platform_keys(
        Some(Path::new(&e.p("platform"))),
        Path::new(&e.p("keys.sealed")),
        &mut host::NoProgress,
    )
    .unwrap();
    assert_eq!(back, owner);
    // Another platform cannot unseal them.
    let other = tempfile::tempdir().unwrap();
    assert!(
        host::enclave_side::load_platform_keys(
            Some(other.path()),
            Path::new(&e.p("keys.sealed")),
            &mut host::NoProgress
        )
        .is_err()
    );

    // Scan every file the host side wrote.
    let images = hostio::idx::read_images(&mnist_dir().join("train-images-idx3-ubyte.gz")).unwrap();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for k in [owner.dataset.key(), owner.model.key()] {
        secrets.push(k.expose_secret().to_vec());
        for l in [
            seal::key::LABEL_DATASET,
            seal::key::LABEL_MIRROR,
            seal::key::LABEL_EXPORT,
        ] {
            secrets.push(k.derive(l).expose_secret().to_vec());
        }
    }
    for f in [
        "train.sealed",
        "evidence.bin",
        "session.state",
        "bundle.sealed",
        "keys.sealed",
    ] {
        let bytes = std::fs::read(e.p(f)).unwrap();
        for s in &secrets {
            assert!(!contains(&bytes, s), "{f} contains key bytes");
        }
        for i in 0..32usize {
            let row = &images.pixels[i * 784 + 14 * 28..i * 784 + 15 * 28];
            assert!(
                !contains(&bytes, row),
                "{f} contains plaintext pixels of sample {i}"
            );
        }
    }
    // Sealed state and keys are private files.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "session.state",
        "keys.sealed",
        "platform/signing.key",
        "platform/sealing.key",
    ] {
        let mode = std::fs::metadata(e.p(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn provision_refuses_bad_evidence() {
    let e = Env::new();
    e.keygen("owner.key");
    let nonce = e.nonce();
    let stdout = e.ok(&[
        "enclave",
        "evidence",
        "--nonce",
        &nonce,
        "--out",
        &e.p("ev.bin"),
    ]);
    let m = field(&stdout, "measurement:").to_string();
    assert!(
        Path::new(&e.p("ev.bin.state")).exists(),
        "default state path"
    );
    let ev = e.p("ev.bin");
    let out = e.p("b.sealed");
    let run_err = |extra: &[&str], nonce: &str, m: &str| {
        let mut a = e.provision_args("ev.bin", nonce, m, "b.sealed");
        a.extend(common::strings(extra));
        e.err(&a)
    };
    // Simulation not allowed.
    let err = run_err(&[], &nonce, &m);
    assert!(err.contains("SIMULATED"), "{err}");
    // Wrong measurement.
    let other_m = "ab".repeat(48);
    let err = run_err(&["--allow-sim"], &nonce, &other_m);
    assert!(err.contains("measurement"), "{err}");
    // Stale nonce (the owner's current nonce is another one).
    let fresh = e.nonce();
    let err = run_err(&["--allow-sim"], &fresh, &m);
    assert!(err.contains("stale or replayed"), "{err}");
    // Another pinned platform key.
    let err = run_err(
        &["--allow-sim", "--sim-platform-key", &"11".repeat(32)],
        &nonce,
        &m,
    );
    assert!(err.contains("not the pinned"), "{err}");
    // Tampered evidence file (a bit of the signature).
    let mut bytes = std::fs::read(&ev).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    std::fs::write(&ev, &bytes).unwrap();
    let err = run_err(&["--allow-sim"], &nonce, &m);
    assert!(err.contains("signature"), "{err}");
    // Truncated / foreign evidence file.
    std::fs::write(&ev, &bytes[..20]).unwrap();
    let err = run_err(&["--allow-sim"], &nonce, &m);
    assert!(err.contains("evidence"), "{err}");
    // Nothing was written.
    assert!(!Path::new(&out).exists());
}

#[test]
fn bundle_for_another_enclave_session_is_refused() {
    let e = Env::new();
    e.keygen("owner.key");
    let n1 = e.nonce();
    let n2 = e.nonce();
    let s1 = e.evidence(&n1, "e1", "s1");
    e.evidence(&n2, "e2", "s2");
    let m = field(&s1, "measurement:").to_string();
    e.provision("e1", &n1, &m, "b1");
    // Session 2 cannot use the bundle made for session 1.
    let err = e.err(&e.accept_args("s2", "b1", "k"));
    assert!(err.contains("another enclave key"), "{err}");
    // Session 1 can.
    e.ok(&e.accept_args("s1", "b1", "k"));
    // A bad nonce argument is a clear error.
    let err = e.err(&["enclave", "evidence", "--nonce", "xyz", "--out", &e.p("e3")]);
    assert!(err.contains("not hex"), "{err}");
}
