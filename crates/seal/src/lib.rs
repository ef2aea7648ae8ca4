//! AES-GCM sealed records, key hierarchy, attestation and key provisioning.
