//! Darknet-compatible CNN training and inference.
