//! The data owner's commands, run through the real binary on a small MNIST
//! subset: key file, sealed dataset contents, and error cases.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hostio::keyfile::read_key_file;
use seal::dataset::SealedDataset;

mod common;
use common::{Env, contains, mnist_dir, seal_dataset_args};

#[test]
fn keygen_and_seal_dataset_round_trip() {
    let e = Env::new();
    let dir = &e.dir;
    let key = dir.path().join("owner.key");
    let out = dir.path().join("train.sealed");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let stdout = e.keygen("owner.key");
    assert!(stdout.contains("mode 0600"), "{stdout}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Never overwritten silently.
    let err = e.err(&["owner", "keygen", "--out", &s(&key)]);
    assert!(err.contains("already exists"), "{err}");

    let mnist = s(&mnist_dir());
    // `owner seal-dataset` with `key` to `out`; returns stdout.
    let seal_ok =
        |out: &Path, extra: &[&str]| e.ok(&seal_dataset_args(&mnist, &s(&key), &s(out), extra));
    let stdout = seal_ok(&out, &["--limit", "64", "--quiet"]);
    assert!(stdout.contains("64 samples of 28x28"), "{stdout}");

    // The file opens with the owner's key and gives back MNIST exactly.
    let bundle = read_key_file(&key).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let ds = SealedDataset::parse(&bytes, "train.sealed").unwrap();
    assert_eq!(ds.len(), 64);
    let rk = bundle.dataset.record_key();
    ds.verify_header(&rk).unwrap();
    let images = hostio::idx::read_images(&mnist_dir().join("train-images-idx3-ubyte.gz")).unwrap();
    let labels = hostio::idx::read_labels(&mnist_dir().join("train-labels-idx1-ubyte.gz")).unwrap();
    let mut buf = vec![0u8; 785];
    for (i, &want) in labels.iter().enumerate().take(64) {
        let label = ds.open_sample(&rk, i as u64, &mut buf).unwrap();
        assert_eq!(label, want);
        assert_eq!(&buf[..784], images.image(i));
    }
    // A record moved to another index does not open.
    let rec3 = ds.record(3).unwrap();
    assert!(seal::dataset::open_sample(&rk, &ds.header().dataset_id, 4, rec3, &mut buf).is_err());

    // Neither key bytes nor plaintext pixels appear in the sealed file.
    for k in [bundle.dataset.key(), bundle.model.key()] {
        assert!(!contains(&bytes, k.expose_secret()));
        assert!(!contains(
            &bytes,
            k.derive(seal::key::LABEL_DATASET).expose_secret()
        ));
    }
    for i in 0..64usize {
        // Row 14 (the middle of the digit) of each image.
        let row = &images.pixels[i * 784 + 14 * 28..i * 784 + 15 * 28];
        assert!(!contains(&bytes, row), "sample {i}: plaintext row found");
    }

    // A second sealing gets a new dataset id: records do not mix.
    let out2 = dir.path().join("again.sealed");
    seal_ok(&out2, &["--limit", "4", "--quiet"]);
    let bytes2 = std::fs::read(&out2).unwrap();
    let ds2 = SealedDataset::parse(&bytes2, "again.sealed").unwrap();
    assert_ne!(ds2.header().dataset_id, ds.header().dataset_id);
    assert!(ds2.open_sample(&rk, 0, &mut buf).is_ok());
    assert!(
        seal::dataset::open_sample(
            &rk,
            &ds2.header().dataset_id,
            0,
            ds.record(0).unwrap(),
            &mut buf
        )
        .is_err()
    );

    // The test split seals the same way.
    let test_out = dir.path().join("test.sealed");
    let stdout = seal_ok(&test_out, &["--split", "test", "--limit", "10", "--quiet"]);
    assert!(stdout.contains("test split"), "{stdout}");
}

#[test]
fn seal_dataset_errors_are_clear() {
    let e = Env::new();
    let dir = &e.dir;
    let key = dir.path().join("owner.key");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    e.keygen("owner.key");
    let mnist = s(&mnist_dir());
    let out = s(&dir.path().join("o.sealed"));
    // `owner seal-dataset` to `out`, which must fail; returns stderr.
    let seal_err =
        |mnist: &str, key: &str, extra: &[&str]| e.err(&seal_dataset_args(mnist, key, &out, extra));
    // Missing MNIST directory.
    let err = seal_err("/nonexistent-dir", &s(&key), &[]);
    assert!(
        err.contains("train-images-idx3-ubyte.gz") && err.contains("cannot open"),
        "{err}"
    );
    // Missing key file.
    let err = seal_err(&mnist, "/nonexistent.key", &[]);
    assert!(err.contains("/nonexistent.key"), "{err}");
    // A file that is not a key file.
    let junk = dir.path().join("junk.key");
    std::fs::write(&junk, b"this is not a key").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = seal_err(&mnist, &s(&junk), &[]);
    assert!(err.contains("not a Plinius owner key file"), "{err}");
    // A key file others can read.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = seal_err(&mnist, &s(&key), &[]);
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // An existing output is not replaced without --force.
    std::fs::write(dir.path().join("o.sealed"), b"keep me").unwrap();
    let err = seal_err(&mnist, &s(&key), &["--limit", "2"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("o.sealed")).unwrap(),
        b"keep me"
    );
}
