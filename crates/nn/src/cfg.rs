//! Darknet `.cfg` model files: the INI-like parser, the typed model description
//! and its canonical form (the input of the model fingerprint).
//!
//! The format: sections `[name]`, `key=value` lines (spaces around `=` allowed),
//! whole-line and trailing comments starting with `#` or `;`, blank lines. The
//! first section is `[net]` (or `[network]`); every following section is a layer.
//! Unsupported sections and unknown keys are errors naming the file, the line and
//! the section; they (and syntax errors and invalid values) are reported before
//! a missing required key or a layer that does not fit. Darknet's image-augmentation keys in `[net]` are accepted and
//! ignored with a warning.

use std::fmt;

use sha2::{Digest, Sha256};

/// Largest accepted value for a spatial size, a channel count or a filter count.
const MAX_DIM: i64 = 1 << 16;
/// Largest accepted batch size.
const MAX_BATCH: i64 = 1 << 16;
/// Largest accepted element count of one layer's output for one image, or of one
/// weight buffer (2^31: keeps every index in range and refuses absurd models).
const MAX_ELEMS: usize = 1 << 31;

/// Keys of `[net]` that Darknet uses for data augmentation: accepted, ignored,
/// reported as warnings.
const AUGMENTATION_KEYS: &[&str] = &[
    "hue",
    "saturation",
    "exposure",
    "angle",
    "max_crop",
    "min_crop",
    "aspect",
    "center",
    "flip",
    "jitter",
    "mosaic",
    "blur",
    "mixup",
    "cutmix",
    "letter_box",
];

/// An error in a `.cfg` file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}{kind}", location(.origin, .line), section_prefix(.section))]
pub struct CfgError {
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// 1-based line number (0 when the error concerns the whole file).
    pub line: usize,
    /// The section the error is in, without brackets (empty before any section).
    pub section: String,
    /// What is wrong (boxed: keeps `Result<_, CfgError>` small).
    pub kind: Box<CfgErrorKind>,
}

/// `origin:line`, or `origin` alone for an error about the whole file (line 0).
// thiserror hands the fields of the error by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn location(origin: &str, line: &usize) -> String {
    if *line == 0 {
        origin.to_string()
    } else {
        format!("{origin}:{line}")
    }
}

fn section_prefix(section: &str) -> String {
    if section.is_empty() {
        String::new()
    } else {
        format!("in [{section}]: ")
    }
}

/// What is wrong in a `.cfg` file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CfgErrorKind {
    /// A section this engine does not implement (route, yolo, shortcut, ...).
    #[error(
        "unsupported section [{0}] (supported: net, network, convolutional, conv, maxpool, avgpool, dropout, connected, softmax, cost)"
    )]
    UnsupportedSection(String),
    /// A key the section does not know.
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key given twice in one section.
    #[error("key `{0}` given twice")]
    DuplicateKey(String),
    /// A value that does not parse or is out of range.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A line that is neither a section header, a `key=value` pair nor a comment.
    #[error("cannot parse line `{0}` (expected `[section]` or `key=value`)")]
    Syntax(String),
    /// A `key=value` line before the first section.
    #[error("`{0}` appears before any section")]
    KeyOutsideSection(String),
    /// The file holds no section at all (empty, or only blank lines and comments).
    #[error("the file is empty: no sections (a model starts with [net])")]
    Empty,
    /// The file does not start with `[net]`.
    #[error("the first section must be [net] or [network]")]
    MissingNet,
    /// `[net]` given again after the first section.
    #[error("[net] may appear only once, as the first section")]
    NetNotFirst,
    /// The file has no layer.
    #[error("the model has no layer")]
    NoLayers,
    /// The layers do not fit together (shapes, sizes, structure).
    #[error("{0}")]
    Model(String),
}

/// Activation functions (Darknet names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x > 0 ? x : 0.1 x`.
    Leaky,
    /// `max(x, 0)`.
    Relu,
    /// Identity.
    Linear,
    /// `1 / (1 + exp(-x))`.
    Logistic,
}

impl Activation {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "leaky" => Activation::Leaky,
            "relu" => Activation::Relu,
            "linear" => Activation::Linear,
            "logistic" => Activation::Logistic,
            _ => return None,
        })
    }

    /// The Darknet name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Leaky => "leaky",
            Activation::Relu => "relu",
            Activation::Linear => "linear",
            Activation::Logistic => "logistic",
        }
    }
}

/// Learning-rate policy of `[net]` (evaluated on the batch number, see
/// [`NetConfig::learning_rate_at`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// `learning_rate`.
    Constant,
    /// `learning_rate * scale^(batch / step)`.
    Step {
        /// Batches between two scalings.
        step: u64,
        /// Factor applied every `step` batches.
        scale: f32,
    },
    /// `learning_rate` times the product of `scales[i]` for every `steps[i] <= batch`.
    Steps {
        /// Batch numbers at which the rate changes.
        steps: Vec<u64>,
        /// The factor applied at each step.
        scales: Vec<f32>,
    },
    /// `learning_rate * (1 - batch / max_batches)^power`.
    Poly,
    /// `learning_rate * gamma^batch`.
    Exp {
        /// Decay factor per batch.
        gamma: f32,
    },
}

/// The `[net]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Images per weight update (Darknet's `batch` key).
    pub batch: usize,
    /// Number of forward/backward passes per update; each pass takes
    /// `batch / subdivisions` images.
    pub subdivisions: usize,
    /// Input width.
    pub width: usize,
    /// Input height.
    pub height: usize,
    /// Input channels.
    pub channels: usize,
    /// Base learning rate.
    pub learning_rate: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Weight decay.
    pub decay: f32,
    /// Learning-rate policy.
    pub policy: Policy,
    /// Exponent of `poly` and of the burn-in ramp.
    pub power: f32,
    /// Number of batches of the run (`poly` reaches 0 there).
    pub max_batches: u64,
    /// Batches of learning-rate warm-up: `rate * (batch / burn_in)^power`.
    pub burn_in: u64,
}

impl NetConfig {
    /// Darknet's `get_current_rate` for batch number `batch_num` (= `seen / batch`,
    /// counted after the batch's images were added to `seen`).
    pub fn learning_rate_at(&self, batch_num: u64) -> f32 {
        let lr = self.learning_rate;
        if batch_num < self.burn_in {
            return lr * (batch_num as f32 / self.burn_in as f32).powf(self.power);
        }
        match &self.policy {
            Policy::Constant => lr,
            Policy::Step { step, scale } => lr * scale.powf((batch_num / step) as f32),
            Policy::Steps { steps, scales } => {
                let mut rate = lr;
                for (s, f) in steps.iter().zip(scales) {
                    if *s > batch_num {
                        return rate;
                    }
                    rate *= f;
                }
                rate
            }
            Policy::Poly => {
                if self.max_batches == 0 {
                    return lr;
                }
                lr * (1.0 - batch_num as f32 / self.max_batches as f32).powf(self.power)
            }
            Policy::Exp { gamma } => lr * gamma.powf(batch_num as f32),
        }
    }

    /// Images per forward/backward pass (`batch / subdivisions`).
    pub fn mini_batch(&self) -> usize {
        self.batch / self.subdivisions
    }
}

/// A `[convolutional]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvConfig {
    /// Output channels.
    pub filters: usize,
    /// Kernel size (square).
    pub size: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side (from `pad=1` -> `size/2`, or `padding`).
    pub padding: usize,
    /// Batch normalisation before the activation.
    pub batch_normalize: bool,
    /// Activation.
    pub activation: Activation,
}

/// One layer section.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerConfig {
    /// `[convolutional]` / `[conv]`.
    Conv(ConvConfig),
    /// `[maxpool]`: window `size`, `stride`, total `padding` (Darknet: default size-1).
    MaxPool {
        /// Window size.
        size: usize,
        /// Stride.
        stride: usize,
        /// Total padding (split as `padding/2` before).
        padding: usize,
    },
    /// `[avgpool]`: global average over the spatial dimensions.
    AvgPool,
    /// `[dropout]`: zero each input with `probability`, scale the rest by `1/(1-p)`.
    Dropout {
        /// Drop probability.
        probability: f32,
    },
    /// `[connected]`: fully connected.
    Connected {
        /// Outputs.
        output: usize,
        /// Activation.
        activation: Activation,
        /// Batch normalisation before the activation.
        batch_normalize: bool,
    },
    /// `[softmax]` with cross-entropy loss.
    Softmax {
        /// Independent softmax groups over the inputs.
        groups: usize,
        /// Temperature dividing the inputs.
        temperature: f32,
    },
    /// `[cost]`: sum of squared errors.
    Cost {
        /// Factor on the propagated error.
        scale: f32,
    },
}

impl LayerConfig {
    /// Darknet's section name of this layer kind.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Conv(_) => "convolutional",
            LayerConfig::MaxPool { .. } => "maxpool",
            LayerConfig::AvgPool => "avgpool",
            LayerConfig::Dropout { .. } => "dropout",
            LayerConfig::Connected { .. } => "connected",
            LayerConfig::Softmax { .. } => "softmax",
            LayerConfig::Cost { .. } => "cost",
        }
    }

    /// Short name used in state-buffer names (`conv`, `maxpool`, ...).
    pub fn short(&self) -> &'static str {
        match self {
            LayerConfig::Conv(_) => "conv",
            LayerConfig::MaxPool { .. } => "maxpool",
            LayerConfig::AvgPool => "avgpool",
            LayerConfig::Dropout { .. } => "dropout",
            LayerConfig::Connected { .. } => "connected",
            LayerConfig::Softmax { .. } => "softmax",
            LayerConfig::Cost { .. } => "cost",
        }
    }
}

/// A tensor shape for one image: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// Elements per image.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// True when the shape holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.w, self.h, self.c)
    }
}

/// A layer of a parsed model with its shapes and learnable parameter count.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// The section.
    pub config: LayerConfig,
    /// Line of the section header.
    pub line: usize,
    /// Input shape (one image).
    pub input: Shape,
    /// Output shape (one image).
    pub output: Shape,
    /// Learnable parameters (weights, biases, BN scales; not rolling statistics).
    pub params: usize,
    /// Multiply-add FLOPs of the forward pass for one image (2 per multiply-add,
    /// GEMM-bearing layers only).
    pub forward_flops: u64,
}

/// A parsed and checked model: `[net]` and its layers with shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Where the text came from (named in errors).
    pub origin: String,
    /// The `[net]` section.
    pub net: NetConfig,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
    /// Warnings (ignored augmentation keys), each naming file and line.
    pub warnings: Vec<String>,
}

/// One raw `key=value` entry.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    value: String,
    line: usize,
    used: bool,
}

/// One raw section.
#[derive(Debug, Clone)]
struct Section {
    name: String,
    line: usize,
    entries: Vec<Entry>,
}

fn strip_comment(line: &str) -> &str {
    let end = line.find(['#', ';']).unwrap_or(line.len());
    line[..end].trim()
}

/// Splits the text into sections (the INI level only).
fn split_sections(text: &str, origin: &str) -> Result<Vec<Section>, CfgError> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = strip_comment(raw);
        if line.is_empty() {
            continue;
        }
        let err = |section: &str, kind| CfgError {
            origin: origin.to_string(),
            line: lineno,
            section: section.to_string(),
            kind: Box::new(kind),
        };
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(err("", CfgErrorKind::Syntax(line.to_string())));
            };
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(err("", CfgErrorKind::Syntax(line.to_string())));
            }
            sections.push(Section {
                name,
                line: lineno,
                entries: Vec::new(),
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            let section = sections.last().map_or("", |s| s.name.as_str());
            return Err(err(section, CfgErrorKind::Syntax(line.to_string())));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        let Some(section) = sections.last_mut() else {
            return Err(err("", CfgErrorKind::KeyOutsideSection(line.to_string())));
        };
        if key.is_empty() {
            return Err(err(&section.name, CfgErrorKind::Syntax(line.to_string())));
        }
        if section.entries.iter().any(|e| e.key == key) {
            return Err(err(&section.name, CfgErrorKind::DuplicateKey(key)));
        }
        section.entries.push(Entry {
            key,
            value,
            line: lineno,
            used: false,
        });
    }
    Ok(sections)
}

/// Typed access to one section's keys with error reporting.
struct Reader<'a> {
    origin: &'a str,
    section: &'a mut Section,
}

impl Reader<'_> {
    fn err_at(&self, line: usize, kind: CfgErrorKind) -> CfgError {
        CfgError {
            origin: self.origin.to_string(),
            line,
            section: self.section.name.clone(),
            kind: Box::new(kind),
        }
    }

    fn raw(&mut self, key: &str) -> Option<(String, usize)> {
        let e = self.section.entries.iter_mut().find(|e| e.key == key)?;
        e.used = true;
        Some((e.value.clone(), e.line))
    }

    fn invalid(&self, key: &str, value: &str, line: usize, reason: &str) -> CfgError {
        self.err_at(
            line,
            CfgErrorKind::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
                reason: reason.to_string(),
            },
        )
    }

    fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, CfgError> {
        let Some((v, line)) = self.raw(key) else {
            return Ok(default);
        };
        let n: i64 = v
            .parse()
            .map_err(|_| self.invalid(key, &v, line, "not an integer"))?;
        if n < min || n > max {
            return Err(self.invalid(key, &v, line, &format!("must be in {min}..={max}")));
        }
        Ok(n)
    }

    fn uint(&mut self, key: &str, default: usize, min: i64, max: i64) -> Result<usize, CfgError> {
        Ok(self.int(key, default as i64, min, max)? as usize)
    }

    fn float(&mut self, key: &str, default: f32, min: f32, max: f32) -> Result<f32, CfgError> {
        let Some((v, line)) = self.raw(key) else {
            return Ok(default);
        };
        let x: f32 = v
            .parse()
            .map_err(|_| self.invalid(key, &v, line, "not a number"))?;
        if !x.is_finite() || x < min || x > max {
            return Err(self.invalid(
                key,
                &v,
                line,
                &format!("must be a number in [{min}, {max}]"),
            ));
        }
        Ok(x)
    }

    fn flag(&mut self, key: &str) -> Result<bool, CfgError> {
        Ok(self.int(key, 0, 0, 1)? == 1)
    }

    fn activation(&mut self, default: Activation) -> Result<Activation, CfgError> {
        let Some((v, line)) = self.raw("activation") else {
            return Ok(default);
        };
        Activation::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
            self.invalid(
                "activation",
                &v,
                line,
                "supported: leaky, relu, linear, logistic",
            )
        })
    }

    /// Errors on the first key that was never read.
    fn finish(self, warnings: &mut Vec<String>, net: bool) -> Result<(), CfgError> {
        for e in &self.section.entries {
            if e.used {
                continue;
            }
            if net && AUGMENTATION_KEYS.contains(&e.key.as_str()) {
                warnings.push(format!(
                    "{}:{}: in [{}]: data-augmentation key `{}` is ignored",
                    self.origin, e.line, self.section.name, e.key
                ));
                continue;
            }
            return Err(self.err_at(e.line, CfgErrorKind::UnknownKey(e.key.clone())));
        }
        Ok(())
    }
}

fn parse_list<T: std::str::FromStr>(
    r: &mut Reader<'_>,
    key: &str,
) -> Result<Option<(Vec<T>, usize, String)>, CfgError> {
    let Some((v, line)) = r.raw(key) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        out.push(
            item.parse().map_err(|_| {
                r.invalid(key, &v, line, "expected a comma-separated list of numbers")
            })?,
        );
    }
    Ok(Some((out, line, v)))
}

fn parse_net(r: &mut Reader<'_>) -> Result<NetConfig, CfgError> {
    let batch = r.uint("batch", 1, 1, MAX_BATCH)?;
    let subdivisions = r.uint("subdivisions", 1, 1, MAX_BATCH)?;
    if batch % subdivisions != 0 {
        let line = r.section.line;
        return Err(r.invalid(
            "subdivisions",
            &subdivisions.to_string(),
            line,
            "must divide batch",
        ));
    }
    // Required: 0 (absent) is reported by `missing_input_key`, after the
    // whole file has been checked for syntax, sections and keys.
    let width = r.uint("width", 0, 1, MAX_DIM)?;
    let height = r.uint("height", 0, 1, MAX_DIM)?;
    let channels = r.uint("channels", 0, 1, MAX_DIM)?;
    let learning_rate = r.float("learning_rate", 0.001, 0.0, 1e6)?;
    let momentum = r.float("momentum", 0.9, 0.0, 1.0)?;
    let decay = r.float("decay", 0.0001, 0.0, 1e6)?;
    let power = r.float("power", 4.0, -1e6, 1e6)?;
    let max_batches = r.int("max_batches", 0, 0, i64::MAX)? as u64;
    let burn_in = r.int("burn_in", 0, 0, i64::MAX)? as u64;
    let policy_raw = r.raw("policy");
    let policy = match policy_raw
        .as_ref()
        .map(|(v, l)| (v.to_ascii_lowercase(), *l, v.clone()))
    {
        None => Policy::Constant,
        Some((p, line, v)) => match p.as_str() {
            "constant" => Policy::Constant,
            "poly" => Policy::Poly,
            "exp" => Policy::Exp {
                gamma: r.float("gamma", 1.0, 0.0, 1e6)?,
            },
            "step" => Policy::Step {
                step: r.int("step", 1, 1, i64::MAX)? as u64,
                scale: r.float("scale", 1.0, 0.0, 1e6)?,
            },
            "steps" => {
                let steps = parse_list::<u64>(r, "steps")?;
                let scales = parse_list::<f32>(r, "scales")?;
                let (Some((steps, sl, sv)), Some((scales, _, _))) = (steps, scales) else {
                    return Err(r.invalid(
                        "policy",
                        &v,
                        line,
                        "`steps` needs both `steps` and `scales`",
                    ));
                };
                if steps.len() != scales.len() {
                    return Err(r.invalid(
                        "steps",
                        &sv,
                        sl,
                        "`steps` and `scales` differ in length",
                    ));
                }
                if scales.iter().any(|s| !s.is_finite()) {
                    return Err(r.invalid("scales", &sv, sl, "scales must be finite"));
                }
                Policy::Steps { steps, scales }
            }
            _ => {
                return Err(r.invalid(
                    "policy",
                    &v,
                    line,
                    "supported: constant, step, steps, poly, exp",
                ));
            }
        },
    };
    // Keys of other policies are accepted (Darknet files often carry them) but unused.
    for k in ["gamma", "step", "scale", "steps", "scales"] {
        let _ = r.raw(k);
    }
    Ok(NetConfig {
        batch,
        subdivisions,
        width,
        height,
        channels,
        learning_rate,
        momentum,
        decay,
        policy,
        power,
        max_batches,
        burn_in,
    })
}

/// The first of `[net]`'s required keys that the file does not give.
fn missing_input_key(net: &NetConfig) -> Option<&'static str> {
    [
        ("width", net.width),
        ("height", net.height),
        ("channels", net.channels),
    ]
    .into_iter()
    .find(|&(_, v)| v == 0)
    .map(|(k, _)| k)
}

fn parse_layer(r: &mut Reader<'_>) -> Result<LayerConfig, CfgError> {
    let name = r.section.name.clone();
    Ok(match name.as_str() {
        "convolutional" | "conv" => {
            let filters = r.uint("filters", 1, 1, MAX_DIM)?;
            let size = r.uint("size", 1, 1, MAX_DIM)?;
            let stride = r.uint("stride", 1, 1, MAX_DIM)?;
            let pad = r.flag("pad")?;
            let mut padding = r.uint("padding", 0, 0, MAX_DIM)?;
            if pad {
                padding = size / 2;
            }
            let groups = r.int("groups", 1, 1, MAX_DIM)?;
            if groups != 1 {
                let line = r
                    .section
                    .entries
                    .iter()
                    .find(|e| e.key == "groups")
                    .map_or(0, |e| e.line);
                return Err(r.invalid(
                    "groups",
                    &groups.to_string(),
                    line,
                    "only groups=1 is supported",
                ));
            }
            LayerConfig::Conv(ConvConfig {
                filters,
                size,
                stride,
                padding,
                batch_normalize: r.flag("batch_normalize")?,
                activation: r.activation(Activation::Logistic)?,
            })
        }
        "maxpool" => {
            let stride = r.uint("stride", 1, 1, MAX_DIM)?;
            let size = r.uint("size", stride, 1, MAX_DIM)?;
            let padding = r.uint("padding", size - 1, 0, MAX_DIM)?;
            LayerConfig::MaxPool {
                size,
                stride,
                padding,
            }
        }
        "avgpool" => LayerConfig::AvgPool,
        "dropout" => LayerConfig::Dropout {
            probability: r.float("probability", 0.5, 0.0, 0.999)?,
        },
        "connected" => LayerConfig::Connected {
            output: r.uint("output", 1, 1, 1 << 24)?,
            activation: r.activation(Activation::Logistic)?,
            batch_normalize: r.flag("batch_normalize")?,
        },
        "softmax" => LayerConfig::Softmax {
            groups: r.uint("groups", 1, 1, MAX_DIM)?,
            temperature: r.float("temperature", 1.0, 1e-6, 1e6)?,
        },
        "cost" => {
            if let Some((v, line)) = r.raw("type")
                && !v.eq_ignore_ascii_case("sse")
            {
                return Err(r.invalid("type", &v, line, "only `sse` is supported"));
            }
            LayerConfig::Cost {
                scale: r.float("scale", 1.0, 0.0, 1e6)?,
            }
        }
        other => {
            let line = r.section.line;
            return Err(r.err_at(line, CfgErrorKind::UnsupportedSection(other.to_string())));
        }
    })
}

fn checked(a: usize, b: usize) -> Option<usize> {
    a.checked_mul(b).filter(|&p| p <= MAX_ELEMS)
}

/// Output shape, parameter count and forward FLOPs of one layer.
fn infer(cfg: &LayerConfig, input: Shape) -> Result<(Shape, usize, u64), String> {
    let inputs = input.len();
    Ok(match cfg {
        LayerConfig::Conv(c) => {
            let out_dim = |d: usize| -> Result<usize, String> {
                let padded = d + 2 * c.padding;
                if padded < c.size {
                    return Err(format!(
                        "kernel size {} is larger than the padded input ({d} + 2x{})",
                        c.size, c.padding
                    ));
                }
                Ok((padded - c.size) / c.stride + 1)
            };
            let out = Shape {
                c: c.filters,
                h: out_dim(input.h)?,
                w: out_dim(input.w)?,
            };
            let k = checked(c.size * c.size, input.c).ok_or("kernel too large")?;
            let nweights = checked(k, c.filters).ok_or("too many weights")?;
            let bn = if c.batch_normalize { c.filters } else { 0 };
            checked(out.c * out.h, out.w).ok_or("output too large")?;
            let flops = (2 * nweights as u64).saturating_mul((out.h * out.w) as u64);
            (out, nweights + c.filters + bn, flops)
        }
        LayerConfig::MaxPool {
            size,
            stride,
            padding,
        } => {
            let out_dim = |d: usize| -> Result<usize, String> {
                if d + padding < *size {
                    return Err(format!(
                        "pool size {size} is larger than the padded input {d}"
                    ));
                }
                Ok((d + padding - size) / stride + 1)
            };
            (
                Shape {
                    c: input.c,
                    h: out_dim(input.h)?,
                    w: out_dim(input.w)?,
                },
                0,
                0,
            )
        }
        LayerConfig::AvgPool => (
            Shape {
                c: input.c,
                h: 1,
                w: 1,
            },
            0,
            0,
        ),
        LayerConfig::Dropout { .. } | LayerConfig::Cost { .. } => (input, 0, 0),
        LayerConfig::Connected {
            output,
            batch_normalize,
            ..
        } => {
            let nweights = checked(inputs, *output).ok_or("too many weights")?;
            let bn = if *batch_normalize { *output } else { 0 };
            (
                Shape {
                    c: *output,
                    h: 1,
                    w: 1,
                },
                nweights + output + bn,
                2 * nweights as u64,
            )
        }
        LayerConfig::Softmax { groups, .. } => {
            if inputs % groups != 0 {
                return Err(format!(
                    "groups={groups} does not divide the {inputs} inputs"
                ));
            }
            (input, 0, 0)
        }
    })
}

impl ModelConfig {
    /// Parses and checks a `.cfg` text. `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CfgError> {
        let mut sections = split_sections(text, origin)?;
        let mut warnings = Vec::new();
        if sections.is_empty() {
            return Err(CfgError {
                origin: origin.into(),
                line: 0,
                section: String::new(),
                kind: Box::new(CfgErrorKind::Empty),
            });
        }
        let mut iter = sections.iter_mut();
        let first = iter.next().expect("non-empty");
        if first.name != "net" && first.name != "network" {
            return Err(CfgError {
                origin: origin.into(),
                line: first.line,
                section: first.name.clone(),
                kind: Box::new(CfgErrorKind::MissingNet),
            });
        }
        let (net_line, net_name) = (first.line, first.name.clone());
        let mut r = Reader {
            origin,
            section: first,
        };
        let net = parse_net(&mut r)?;
        r.finish(&mut warnings, true)?;
        // First every section and key (with its line), then what is missing
        // or does not fit: an unknown key further down is reported before a
        // missing `[net]` key or a shape error.
        let mut configs = Vec::new();
        for section in iter {
            let line = section.line;
            if section.name == "net" || section.name == "network" {
                return Err(CfgError {
                    origin: origin.into(),
                    line,
                    section: section.name.clone(),
                    kind: Box::new(CfgErrorKind::NetNotFirst),
                });
            }
            let name = section.name.clone();
            let mut r = Reader { origin, section };
            let config = parse_layer(&mut r)?;
            r.finish(&mut warnings, false)?;
            configs.push((config, line, name));
        }
        if let Some(key) = missing_input_key(&net) {
            return Err(CfgError {
                origin: origin.into(),
                line: net_line,
                section: net_name,
                kind: Box::new(CfgErrorKind::Model(format!("[net] needs `{key}`"))),
            });
        }
        let mut shape = Shape {
            c: net.channels,
            h: net.height,
            w: net.width,
        };
        let input_too_large = checked(shape.c * shape.h, shape.w).is_none();
        let mut layers = Vec::new();
        for (config, line, name) in configs {
            let model_err = |msg: String| CfgError {
                origin: origin.into(),
                line,
                section: name.clone(),
                kind: Box::new(CfgErrorKind::Model(msg)),
            };
            if input_too_large {
                return Err(model_err("the [net] input is too large".into()));
            }
            let (output, params, forward_flops) = infer(&config, shape).map_err(model_err)?;
            if output.is_empty() {
                return Err(model_err("the layer's output is empty".into()));
            }
            layers.push(LayerSpec {
                config,
                line,
                input: shape,
                output,
                params,
                forward_flops,
            });
            shape = output;
        }
        if layers.is_empty() {
            return Err(CfgError {
                origin: origin.into(),
                line: 0,
                section: String::new(),
                kind: Box::new(CfgErrorKind::NoLayers),
            });
        }
        // Structure rules: one loss layer, last (optionally softmax then cost).
        let n = layers.len();
        for (i, l) in layers.iter().enumerate() {
            let err = |msg: &str| CfgError {
                origin: origin.into(),
                line: l.line,
                section: l.config.kind().into(),
                kind: Box::new(CfgErrorKind::Model(msg.into())),
            };
            match l.config {
                LayerConfig::Cost { .. } if i != n - 1 => {
                    return Err(err("[cost] must be the last layer"));
                }
                LayerConfig::Softmax { .. }
                    if !(i == n - 1
                        || (i == n - 2
                            && matches!(layers[n - 1].config, LayerConfig::Cost { .. }))) =>
                {
                    return Err(err(
                        "[softmax] must be the last layer (or be followed only by [cost])",
                    ));
                }
                _ => {}
            }
        }
        if !matches!(
            layers[n - 1].config,
            LayerConfig::Softmax { .. } | LayerConfig::Cost { .. }
        ) {
            let l = &layers[n - 1];
            return Err(CfgError {
                origin: origin.into(),
                line: l.line,
                section: l.config.kind().into(),
                kind: Box::new(CfgErrorKind::Model(
                    "the last layer must be [softmax] or [cost] (the loss)".into(),
                )),
            });
        }
        Ok(ModelConfig {
            origin: origin.to_string(),
            net,
            layers,
            warnings,
        })
    }

    /// Learnable parameters of the whole model (weights, biases, BN scales).
    pub fn param_count(&self) -> usize {
        self.layers
            .iter()
            .fold(0usize, |a, l| a.saturating_add(l.params))
    }

    /// Bytes of the learnable parameters as f32.
    pub fn param_bytes(&self) -> usize {
        self.param_count().saturating_mul(4)
    }

    /// Forward FLOPs for one image (multiply-adds counted as 2).
    pub fn forward_flops_per_image(&self) -> u64 {
        self.layers
            .iter()
            .fold(0u64, |a, l| a.saturating_add(l.forward_flops))
    }
    // FLOP counts saturate: absurd models must not overflow (and panic).

    /// FLOPs of one training iteration (`batch` images) as computed: forward,
    /// weight gradients, and input gradients of every GEMM layer except the
    /// first (whose input gradient is not needed).
    pub fn train_flops_per_iteration(&self) -> u64 {
        let per_image: u64 = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| l.forward_flops.saturating_mul(if i == 0 { 2 } else { 3 }))
            .fold(0u64, u64::saturating_add);
        per_image.saturating_mul(self.net.batch as u64)
    }

    /// Number of classes (outputs of the last layer for one image).
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.output.len())
    }

    /// Input shape of one image.
    pub fn input_shape(&self) -> Shape {
        Shape {
            c: self.net.channels,
            h: self.net.height,
            w: self.net.width,
        }
    }

    /// The canonical text of the model: every section with every key that
    /// matters, defaults made explicit, aliases resolved, numbers in one format,
    /// comments and ignored keys dropped. Two files that describe the same
    /// model give the same canonical text.
    pub fn canonical(&self) -> String {
        use std::fmt::Write;
        let n = &self.net;
        let mut s = String::new();
        let f = |x: f32| format!("{x:e}");
        let _ = writeln!(s, "[net]");
        let _ = writeln!(s, "batch={}", n.batch);
        let _ = writeln!(s, "subdivisions={}", n.subdivisions);
        let _ = writeln!(
            s,
            "width={}\nheight={}\nchannels={}",
            n.width, n.height, n.channels
        );
        let _ = writeln!(s, "learning_rate={}", f(n.learning_rate));
        let _ = writeln!(s, "momentum={}\ndecay={}", f(n.momentum), f(n.decay));
        let _ = writeln!(s, "burn_in={}\npower={}", n.burn_in, f(n.power));
        let _ = writeln!(s, "max_batches={}", n.max_batches);
        match &n.policy {
            Policy::Constant => {
                let _ = writeln!(s, "policy=constant");
            }
            Policy::Poly => {
                let _ = writeln!(s, "policy=poly");
            }
            Policy::Exp { gamma } => {
                let _ = writeln!(s, "policy=exp\ngamma={}", f(*gamma));
            }
            Policy::Step { step, scale } => {
                let _ = writeln!(s, "policy=step\nstep={step}\nscale={}", f(*scale));
            }
            Policy::Steps { steps, scales } => {
                let st: Vec<String> = steps.iter().map(ToString::to_string).collect();
                let sc: Vec<String> = scales.iter().map(|x| f(*x)).collect();
                let _ = writeln!(
                    s,
                    "policy=steps\nsteps={}\nscales={}",
                    st.join(","),
                    sc.join(",")
                );
            }
        }
        for l in &self.layers {
            let _ = writeln!(s, "[{}]", l.config.kind());
            match &l.config {
                LayerConfig::Conv(c) => {
                    let _ = writeln!(
                        s,
                        "filters={}\nsize={}\nstride={}\npadding={}\nbatch_normalize={}\nactivation={}",
                        c.filters,
                        c.size,
                        c.stride,
                        c.padding,
                        u8::from(c.batch_normalize),
                        c.activation.name()
                    );
                }
                LayerConfig::MaxPool {
                    size,
                    stride,
                    padding,
                } => {
                    let _ = writeln!(s, "size={size}\nstride={stride}\npadding={padding}");
                }
                LayerConfig::AvgPool => {}
                LayerConfig::Dropout { probability } => {
                    let _ = writeln!(s, "probability={}", f(*probability));
                }
                LayerConfig::Connected {
                    output,
                    activation,
                    batch_normalize,
                } => {
                    let _ = writeln!(
                        s,
                        "output={output}\nactivation={}\nbatch_normalize={}",
                        activation.name(),
                        u8::from(*batch_normalize)
                    );
                }
                LayerConfig::Softmax {
                    groups,
                    temperature,
                } => {
                    let _ = writeln!(s, "groups={groups}\ntemperature={}", f(*temperature));
                }
                LayerConfig::Cost { scale } => {
                    let _ = writeln!(s, "type=sse\nscale={}", f(*scale));
                }
            }
        }
        s
    }

    /// SHA-256 of [`ModelConfig::canonical`]: identifies the model architecture
    /// and its training hyper-parameters.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.canonical().as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "[net]\nbatch=4\nwidth=8\nheight=8\nchannels=1\n\n[convolutional]\nfilters=2\nsize=3\npad=1\nactivation=leaky\n\n[connected]\noutput=3\nactivation=linear\n[softmax]\n";

    fn err(text: &str) -> CfgError {
        ModelConfig::parse(text, "m.cfg").unwrap_err()
    }

    #[test]
    fn parses_a_small_model_with_shapes() {
        let m = ModelConfig::parse(SMALL, "m.cfg").unwrap();
        assert_eq!(m.layers.len(), 3);
        assert_eq!(m.layers[0].output, Shape { c: 2, h: 8, w: 8 });
        assert_eq!(m.layers[0].params, 2 * 9 + 2);
        assert_eq!(m.layers[1].params, 128 * 3 + 3);
        assert_eq!(m.classes(), 3);
    }

    #[test]
    fn unsupported_section_names_file_line_and_section() {
        let e = err("[net]\nwidth=8\nheight=8\nchannels=1\n\n[route]\nlayers=-1\n");
        assert_eq!(e.line, 6);
        assert_eq!(e.section, "route");
        assert!(matches!(*e.kind, CfgErrorKind::UnsupportedSection(ref s) if s == "route"));
        let msg = e.to_string();
        assert!(msg.starts_with("m.cfg:6: in [route]:"), "{msg}");
    }

    #[test]
    fn unknown_key_is_an_error_but_augmentation_keys_warn() {
        let e = err(&SMALL.replace("filters=2", "filters=2\nfliters=3"));
        assert!(matches!(*e.kind, CfgErrorKind::UnknownKey(ref k) if k == "fliters"));
        assert_eq!(e.line, 9);
        assert_eq!(e.section, "convolutional");
        let m = ModelConfig::parse(
            &SMALL.replace("channels=1", "channels=1\nhue=.1\nsaturation = 1.5"),
            "m.cfg",
        )
        .unwrap();
        assert_eq!(m.warnings.len(), 2);
        assert!(m.warnings[0].contains("m.cfg:6") && m.warnings[0].contains("hue"));
    }

    #[test]
    fn comments_spaces_and_aliases() {
        let text = "# model\n[network]\n batch = 4 ; four\nwidth=8\nheight=8\nchannels=1\n[conv]\nfilters=2\nsize=3\npad=1\nactivation=leaky # act\n[connected]\noutput=3\nactivation=linear\n[softmax]\n";
        let a = ModelConfig::parse(text, "a.cfg").unwrap();
        let b = ModelConfig::parse(SMALL, "b.cfg").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = ModelConfig::parse(&SMALL.replace("filters=2", "filters=3"), "c.cfg").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn an_empty_file_is_reported_as_empty() {
        for text in ["", "\n\n", "# only a comment\n; and another\n"] {
            let e = err(text);
            assert!(matches!(*e.kind, CfgErrorKind::Empty), "{e}");
            assert_eq!(e.line, 0);
            let msg = e.to_string();
            assert!(msg.starts_with("m.cfg: the file is empty"), "{msg}");
            assert!(!msg.contains("[net] or [network]"), "{msg}");
        }
    }

    #[test]
    fn unknown_sections_and_keys_come_before_missing_keys() {
        let no_width = SMALL.replace("width=8\n", "");
        // Alone, the missing key is reported, at the [net] line.
        let e = err(&no_width);
        assert!(
            matches!(*e.kind, CfgErrorKind::Model(ref m) if m.contains("`width`")),
            "{e}"
        );
        assert_eq!((e.line, e.section.as_str()), (1, "net"));
        // An unknown key further down is reported first, with its line.
        let e = err(&no_width.replace("output=3", "output=3\noutptu=4"));
        assert!(
            matches!(*e.kind, CfgErrorKind::UnknownKey(ref k) if k == "outptu"),
            "{e}"
        );
        assert_eq!((e.line, e.section.as_str()), (14, "connected"));
        // So is an unsupported section, and a syntax error.
        let e = err(&format!("{no_width}[route]\nlayers=-1\n"));
        assert!(
            matches!(*e.kind, CfgErrorKind::UnsupportedSection(_)),
            "{e}"
        );
        assert_eq!(e.line, 16);
        let e = err(&format!("{no_width}[cost\n"));
        assert!(matches!(*e.kind, CfgErrorKind::Syntax(_)), "{e}");
        assert_eq!(e.line, 16);
        // An unknown key in [net] itself too.
        let e = err(&no_width.replace("batch=4", "batch=4\nwidht=8"));
        assert!(
            matches!(*e.kind, CfgErrorKind::UnknownKey(ref k) if k == "widht"),
            "{e}"
        );
        assert_eq!(e.line, 3);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(matches!(*err("").kind, CfgErrorKind::Empty));
        assert!(matches!(
            *err("batch=1\n").kind,
            CfgErrorKind::KeyOutsideSection(_)
        ));
        assert!(matches!(*err("[net\n").kind, CfgErrorKind::Syntax(_)));
        assert!(matches!(
            *err("[conv]\nfilters=1\n").kind,
            CfgErrorKind::MissingNet
        ));
        assert!(matches!(
            *err("[net]\nwidth=8\nheight=8\nchannels=1\n").kind,
            CfgErrorKind::NoLayers
        ));
        let e = err(&SMALL.replace("filters=2", "filters=two"));
        assert!(matches!(*e.kind, CfgErrorKind::InvalidValue { ref key, .. } if key == "filters"));
        assert_eq!(e.line, 8);
        let e = err(&SMALL.replace("filters=2", "filters=2\nfilters=3"));
        assert!(matches!(*e.kind, CfgErrorKind::DuplicateKey(_)));
        let e = err(&SMALL.replace("size=3\npad=1", "size=30"));
        assert!(matches!(*e.kind, CfgErrorKind::Model(_)), "{e}");
        let e = err(&SMALL.replace("leaky", "tanhh"));
        assert!(matches!(*e.kind, CfgErrorKind::InvalidValue { .. }));
        let e = err(&SMALL.replace("[softmax]\n", ""));
        assert!(matches!(*e.kind, CfgErrorKind::Model(_)));
        let e = err(&SMALL.replace("batch=4", "batch=4\nsubdivisions=3"));
        assert!(matches!(*e.kind, CfgErrorKind::InvalidValue { .. }));
        let e = err(&SMALL
            .replace("width=8", "width=65536\nheight=65536")
            .replace("height=8\n", ""));
        assert!(matches!(*e.kind, CfgErrorKind::Model(_)), "{e}");
    }

    #[test]
    fn learning_rate_policies() {
        let mut n = ModelConfig::parse(SMALL, "m.cfg").unwrap().net;
        n.learning_rate = 0.1;
        assert_eq!(n.learning_rate_at(7), 0.1);
        n.policy = Policy::Poly;
        n.max_batches = 100;
        n.power = 2.0;
        assert!((n.learning_rate_at(50) - 0.025).abs() < 1e-7);
        n.policy = Policy::Steps {
            steps: vec![10, 20],
            scales: vec![0.1, 0.5],
        };
        assert_eq!(n.learning_rate_at(9), 0.1);
        assert!((n.learning_rate_at(10) - 0.01).abs() < 1e-8);
        assert!((n.learning_rate_at(25) - 0.005).abs() < 1e-8);
        n.policy = Policy::Step {
            step: 10,
            scale: 0.5,
        };
        assert!((n.learning_rate_at(25) - 0.025).abs() < 1e-8);
        n.policy = Policy::Exp { gamma: 0.9 };
        assert!((n.learning_rate_at(2) - 0.081).abs() < 1e-7);
        n.policy = Policy::Constant;
        n.burn_in = 10;
        n.power = 4.0;
        assert!((n.learning_rate_at(5) - 0.1 * 0.0625).abs() < 1e-8);
        assert_eq!(n.learning_rate_at(10), 0.1);
    }
}
