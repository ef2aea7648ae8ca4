//! Darknet-compatible CNN training and inference.
//!
//! - [`cfg`](mod@cfg): the `.cfg` parser ([`ModelConfig::parse`]), with errors naming
//!   file, line and section, and the model fingerprint.
//! - [`Network`]: layers (convolutional, connected, batch norm, max/avg pool,
//!   dropout, softmax, cost) with Darknet's semantics, SGD with momentum and
//!   decay as Darknet applies them, learning-rate policies with burn-in;
//!   convolutions by im2col + the `gemm` crate; a rayon pool with a thread
//!   setting; results identical for any thread count.
//! - Mirror-ready state: [`Network::state_buffers`] / [`Network::state_buffers_mut`],
//!   [`Network::seen`], [`Network::rng_state`]; [`BatchSampler`] for batch
//!   indices with a serialisable state.
//! - [`weights`]: Darknet `.weights` bytes; [`idx`]: MNIST IDX parsing (raw or
//!   gzip). No file I/O: `hostio` reads and writes the files.
//!
//! Typical use:
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let text = std::fs::read_to_string("cfg/mnist5.cfg")?;
//! let mut net = nn::Network::from_cfg_seeded(&text, "cfg/mnist5.cfg", 1)?;
//! net.set_threads(2)?;
//! // File loaders live on the host side (`hostio`): `nn` parses bytes.
//! let mnist = hostio::idx::load_mnist(std::path::Path::new("data/mnist"))?;
//! let mut sampler = nn::BatchSampler::new(1, mnist.train.len());
//! let mut batch = nn::Batch::new(&net);
//! for _ in 0..100 {
//!     batch.fill(&mnist.train, &mut sampler);
//!     let loss = net.train_step_u8(&batch.pixels, &batch.labels)?;
//!     println!("loss {loss}");
//! }
//! let acc = net.evaluate_u8(&mnist.test.images.pixels, &mnist.test.labels)?;
//! println!("accuracy {acc}");
//! # Ok(()) }
//! ```
// Unit tests may do I/O (temporary files, printing).
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        clippy::disallowed_macros
    )
)]
#![warn(missing_docs)]

mod activation;
pub mod cfg;
#[cfg(test)]
mod gradcheck;
pub mod idx;
mod im2col;
mod kernels;
mod layers;
mod network;
mod rng;
mod sampler;
pub mod weights;

pub use cfg::{Activation, CfgError, CfgErrorKind, LayerConfig, ModelConfig, Shape};
pub use network::{Network, NnError, default_threads};
pub use rng::{RNG_STATE_LEN, RngStateError};
pub use sampler::BatchSampler;

/// A reusable batch buffer: u8 pixels and labels of `batch` samples.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Pixels, sample after sample.
    pub pixels: Vec<u8>,
    /// One label per sample.
    pub labels: Vec<u8>,
    indices: Vec<usize>,
}

impl Batch {
    /// A buffer sized for `net`'s batch.
    pub fn new(net: &Network) -> Self {
        Batch {
            pixels: vec![0; net.batch() * net.input_len()],
            labels: vec![0; net.batch()],
            indices: vec![0; net.batch()],
        }
    }

    /// Draws a batch of samples of `split` with `sampler` (which must range over
    /// `split.len()` samples).
    pub fn fill(&mut self, split: &idx::Split, sampler: &mut BatchSampler) {
        sampler.fill(&mut self.indices);
        let per = split.images.rows * split.images.cols;
        self.pixels.resize(self.indices.len() * per, 0);
        for (k, &i) in self.indices.iter().enumerate() {
            self.pixels[k * per..(k + 1) * per].copy_from_slice(split.images.image(i));
            self.labels[k] = split.labels[i];
        }
    }
}
