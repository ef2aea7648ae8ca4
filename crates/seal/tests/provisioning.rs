//! Attestation and key provisioning: sim evidence accepted only when it is
//! genuine, fresh, for the expected enclave and allowed; bundles open only in
//! the attested enclave session.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use hostio::platform::SimPlatform;
use seal::KeyBundle;
use seal::evidence::{
    Evidence, EvidenceProvider, Measurement, Policy, report_data, report_data_without_measurement,
    verify,
};
use seal::platform::{seal_to_platform, unseal_from_platform};
use seal::provision::{
    AttestedKey, EnclaveSession, accept_bundle, provision, provision_build, seal_bundle,
};

struct Setup {
    _dir: tempfile::TempDir,
    platform: SimPlatform,
    measurement: Measurement,
    policy: Policy,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (platform, created) = SimPlatform::open_or_create(&dir.path().join("platform")).unwrap();
    assert!(created);
    let policy = Policy {
        allow_sim: true,
        sim_platform_key: Some(platform.public_key()),
        ..Policy::default()
    };
    Setup {
        _dir: dir,
        platform,
        measurement: Measurement::of(b"enclave code v1"),
        policy,
    }
}

#[test]
fn full_flow_through_files_and_two_processes() {
    let s = setup();
    let nonce = b"owner nonce 0123456789abcdef0123";
    // Enclave, process 1: evidence + sealed session state.
    let provider = s.platform.provider(s.measurement);
    let (session, attested) = EnclaveSession::start(&provider, &s.measurement, nonce).unwrap();
    let state = session.seal_state(&s.platform, &s.measurement).unwrap();
    drop(session);
    let evidence_file = attested.to_bytes();
    // Owner.
    let owner = KeyBundle::generate().unwrap();
    let attested = AttestedKey::from_bytes(&evidence_file).unwrap();
    let (verified, sealed) =
        provision(&attested, nonce, &s.measurement, &s.policy, &owner).unwrap();
    assert!(verified.simulated);
    assert_eq!(verified.backend, "sim");
    // Enclave, process 2.
    let got = accept_bundle(&s.platform, &s.measurement, &state, &sealed).unwrap();
    assert_eq!(got, owner);
    // Restart: the bundle sealed to the platform comes back without the owner.
    let blob = seal_to_platform(&s.platform, &got, &s.measurement).unwrap();
    let reopened = SimPlatform::open(s.platform.dir()).unwrap();
    assert_eq!(
        unseal_from_platform(&reopened, &blob, &s.measurement).unwrap(),
        owner
    );
    // No key bytes in anything that leaves the enclave.
    for file in [&evidence_file, &state, &sealed, &blob] {
        for k in [owner.dataset.key(), owner.model.key()] {
            assert!(!file.windows(32).any(|w| w == k.expose_secret()));
        }
    }
}

#[test]
fn sim_evidence_rejections() {
    let s = setup();
    let nonce = b"fresh nonce";
    let provider = s.platform.provider(s.measurement);
    let (_session, attested) = EnclaveSession::start(&provider, &s.measurement, nonce).unwrap();
    let rd = report_data(&attested.public_key, nonce, &s.measurement);
    verify(&attested.evidence, &s.measurement, &rd, &s.policy).unwrap();

    // Wrong measurement.
    let e = verify(
        &attested.evidence,
        &Measurement::of(b"other code"),
        &rd,
        &s.policy,
    )
    .unwrap_err();
    assert!(e.to_string().contains("measurement"), "{e}");
    // Stale nonce: evidence made for an older nonce.
    let stale = report_data(
        &attested.public_key,
        b"the owner's new nonce",
        &s.measurement,
    );
    let e = verify(&attested.evidence, &s.measurement, &stale, &s.policy).unwrap_err();
    assert!(e.to_string().contains("stale or replayed"), "{e}");
    // Evidence for another key.
    let other_key = report_data(&[9u8; 32], nonce, &s.measurement);
    assert!(verify(&attested.evidence, &s.measurement, &other_key, &s.policy).is_err());
    // Bad signature: every bit of the signature, and a changed measurement.
    let Evidence::Sim(ev) = &attested.evidence else {
        panic!("sim evidence")
    };
    for bit in 0..512 {
        let mut bad = ev.clone();
        bad.signature[bit / 8] ^= 1 << (bit % 8);
        let e = verify(&Evidence::Sim(bad), &s.measurement, &rd, &s.policy).unwrap_err();
        assert!(e.to_string().contains("signature"), "bit {bit}: {e}");
    }
    let mut forged = ev.clone();
    forged.measurement = Measurement::of(b"other code");
    let e = verify(
        &Evidence::Sim(forged),
        &Measurement::of(b"other code"),
        &rd,
        &s.policy,
    )
    .unwrap_err();
    assert!(e.to_string().contains("signature"), "{e}");
    // Sim not allowed.
    let strict = Policy::default();
    let e = verify(&attested.evidence, &s.measurement, &rd, &strict).unwrap_err();
    assert!(e.to_string().contains("SIMULATED"), "{e}");
    // Allowed but not pinned.
    let unpinned = Policy {
        allow_sim: true,
        ..Policy::default()
    };
    assert!(verify(&attested.evidence, &s.measurement, &rd, &unpinned).is_err());
    // Signed by another simulated platform.
    let dir = tempfile::tempdir().unwrap();
    let (rogue, _) = SimPlatform::open_or_create(dir.path()).unwrap();
    let rogue_ev = rogue.provider(s.measurement);
    let (_s2, rogue_att) = EnclaveSession::start(&rogue_ev, &s.measurement, nonce).unwrap();
    let rd2 = report_data(&rogue_att.public_key, nonce, &s.measurement);
    let e = verify(&rogue_att.evidence, &s.measurement, &rd2, &s.policy).unwrap_err();
    assert!(e.to_string().contains("not the pinned"), "{e}");
    // Provisioning refuses to seal anything for rejected evidence.
    let owner = KeyBundle::generate().unwrap();
    assert!(provision(&attested, b"new nonce", &s.measurement, &s.policy, &owner).is_err());
}

#[test]
fn bundle_opens_only_in_its_session() {
    let s = setup();
    let provider = s.platform.provider(s.measurement);
    let (a, att_a) = EnclaveSession::start(&provider, &s.measurement, b"nonce A").unwrap();
    let (b, _att_b) = EnclaveSession::start(&provider, &s.measurement, b"nonce A").unwrap();
    let owner = KeyBundle::generate().unwrap();
    let sealed = seal_bundle(&owner, &att_a.public_key, b"nonce A").unwrap();
    assert_eq!(a.accept(&sealed).unwrap(), owner);
    // Another enclave instance (another key), even with the same nonce.
    let e = b.accept(&sealed).unwrap_err();
    assert!(e.to_string().contains("another enclave key"), "{e}");
    // Same key, but sealed for another nonce.
    let sealed_other_nonce = seal_bundle(&owner, &att_a.public_key, b"nonce B").unwrap();
    assert!(a.accept(&sealed_other_nonce).is_err());
    // Tampering anywhere.
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x40;
        assert!(a.accept(&bad).is_err(), "byte {i}");
    }
    assert!(a.accept(&sealed[..sealed.len() - 1]).is_err());
    // Session state bound to the measurement.
    let state = a.seal_state(&s.platform, &s.measurement).unwrap();
    let e = accept_bundle(&s.platform, &Measurement::of(b"evil"), &state, &sealed).unwrap_err();
    assert!(e.to_string().contains("measurement"), "{e}");
}

#[test]
fn evidence_files_reject_garbage() {
    assert!(AttestedKey::from_bytes(b"").is_err());
    assert!(AttestedKey::from_bytes(&[0u8; 100]).is_err());
    let s = setup();
    let provider = s.platform.provider(s.measurement);
    let (_x, att) = EnclaveSession::start(&provider, &s.measurement, b"n").unwrap();
    let bytes = att.to_bytes();
    assert_eq!(AttestedKey::from_bytes(&bytes).unwrap(), att);
    for cut in [bytes.len() - 1, 50, 44] {
        assert!(AttestedKey::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
    }
}

#[test]
fn evidence_without_the_measurement_in_its_report_data_is_refused() {
    let s = setup();
    let nonce = b"owner nonce";
    let provider = s.platform.provider(s.measurement);
    let (_session, attested) = EnclaveSession::start(&provider, &s.measurement, nonce).unwrap();
    // Genuine evidence (signed by the pinned platform, for the expected
    // measurement) whose report data binds the key and nonce only.
    let unbound = report_data_without_measurement(&attested.public_key, nonce);
    let legacy = AttestedKey {
        public_key: attested.public_key,
        evidence: provider.evidence(&unbound).unwrap(),
    };
    let owner = KeyBundle::generate().unwrap();
    let e = provision(&legacy, nonce, &s.measurement, &s.policy, &owner).unwrap_err();
    assert!(e.to_string().contains("not the enclave measurement"), "{e}");
    // The same evidence with the measurement bound is accepted.
    provision(&attested, nonce, &s.measurement, &s.policy, &owner).unwrap();
    // Report data bound to another measurement is refused too.
    let other = report_data(&attested.public_key, nonce, &Measurement::of(b"other"));
    let wrong = AttestedKey {
        public_key: attested.public_key,
        evidence: provider.evidence(&other).unwrap(),
    };
    let e = provision(&wrong, nonce, &s.measurement, &s.policy, &owner).unwrap_err();
    assert!(e.to_string().contains("report data does not bind"), "{e}");
    // When the platform's measurement is not the build measurement (a TDX or
    // SEV-SNP launch measurement), the owner names the build one.
    provision_build(
        &wrong,
        nonce,
        &s.measurement,
        &Measurement::of(b"other"),
        &s.policy,
        &owner,
    )
    .unwrap();
    let e = provision_build(
        &attested,
        nonce,
        &s.measurement,
        &Measurement::of(b"other"),
        &s.policy,
        &owner,
    )
    .unwrap_err();
    assert!(e.to_string().contains("report data does not bind"), "{e}");
}
