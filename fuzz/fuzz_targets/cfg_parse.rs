//! Fuzzes the Darknet .cfg parser: any input is either a model or an error,
//! never a panic; a parsed model's derived figures never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match nn::ModelConfig::parse(&text, "fuzz.cfg") {
        Ok(m) => {
            let canonical = m.canonical();
            // The canonical form is itself a valid cfg describing the same model.
            let again = nn::ModelConfig::parse(&canonical, "canonical.cfg").expect("canonical form parses");
            assert_eq!(again.canonical(), canonical);
            assert_eq!(again.fingerprint(), m.fingerprint());
            let _ = (m.param_bytes(), m.train_flops_per_iteration(), m.classes());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
