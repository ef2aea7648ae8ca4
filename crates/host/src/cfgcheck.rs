//! Darknet .cfg model files: loading one (errors name the file, line and
//! section) and the report of `plinius cfg check` (layers with their output
//! shapes, the parameter count and bytes, and the model fingerprint).

use nn::{LayerConfig, ModelConfig};

use crate::error::{Context, Result};

/// Reads a file as text, with the path in the error; invalid UTF-8 is an error.
pub fn read_cfg_text(path: &std::path::Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{}: not a UTF-8 text file", path.display()))
}

/// Parses a .cfg file (errors name the file, line and section).
pub fn load_cfg(path: &std::path::Path) -> Result<ModelConfig> {
    let text = read_cfg_text(path)?;
    Ok(ModelConfig::parse(&text, &path.display().to_string())?)
}

fn describe(l: &LayerConfig) -> String {
    match l {
        LayerConfig::Conv(c) => format!(
            "conv {} {}x{}/{} pad {}{} {}",
            c.filters,
            c.size,
            c.size,
            c.stride,
            c.padding,
            if c.batch_normalize { " bn" } else { "" },
            c.activation.name()
        ),
        LayerConfig::MaxPool { size, stride, .. } => format!("maxpool {size}x{size}/{stride}"),
        LayerConfig::AvgPool => "avgpool".into(),
        LayerConfig::Dropout { probability } => format!("dropout p={probability}"),
        LayerConfig::Connected {
            output,
            activation,
            batch_normalize,
        } => format!(
            "connected {output}{} {}",
            if *batch_normalize { " bn" } else { "" },
            activation.name()
        ),
        LayerConfig::Softmax { groups, .. } => format!("softmax groups={groups}"),
        LayerConfig::Cost { scale } => format!("cost sse scale={scale}"),
    }
}

/// The report printed by `cfg check`.
pub fn report(m: &ModelConfig) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for w in &m.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let n = &m.net;
    let _ = writeln!(
        s,
        "{}: input {}x{}x{}, batch {} (subdivisions {}), learning rate {} (policy {:?}), momentum {}, decay {}",
        m.origin,
        n.width,
        n.height,
        n.channels,
        n.batch,
        n.subdivisions,
        n.learning_rate,
        n.policy,
        n.momentum,
        n.decay
    );
    let _ = writeln!(
        s,
        "{:>4}  {:<32} {:>12} {:>12} {:>12}",
        "#", "layer", "input", "output", "params"
    );
    for (i, l) in m.layers.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:>4}  {:<32} {:>12} {:>12} {:>12}",
            i,
            describe(&l.config),
            l.input.to_string(),
            l.output.to_string(),
            l.params
        );
    }
    let bytes = m.param_bytes();
    let _ = writeln!(
        s,
        "parameters: {} ({} bytes, {:.2} MB as f32)",
        m.param_count(),
        bytes,
        bytes as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "forward: {:.3} GFLOP per image; training: {:.2} GFLOP per batch",
        m.forward_flops_per_image() as f64 / 1e9,
        m.train_flops_per_iteration() as f64 / 1e9
    );
    let _ = writeln!(s, "fingerprint: {}", hex::encode(m.fingerprint()));
    s
}
