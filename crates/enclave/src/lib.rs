//! The trusted core: owns keys, model, optimizer and RNG state; mirrors them to PM sealed.
