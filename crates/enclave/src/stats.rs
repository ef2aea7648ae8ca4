//! Timing statistics the enclave reports to the host (for progress output
//! and `plinius bench mirror`). All durations are wall-clock nanoseconds.

/// One mirror-out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorOutStats {
    /// The iteration the image holds.
    pub iteration: u64,
    /// Bytes of the sealed image.
    pub bytes: u64,
    /// Sealing the records into their destination (PM or the image buffer).
    pub seal_ns: u64,
    /// Making it durable: `romulus` the transaction commit (flush, fences,
    /// copy to back); `ab` the remaining flushes, fences and the selector
    /// flip; `ssd` the host's write + fsync + rename + directory fsync.
    pub persist_ns: u64,
    /// The whole mirror-out.
    pub total_ns: u64,
}

/// One mirror-in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorInStats {
    /// The iteration the image holds.
    pub iteration: u64,
    /// Bytes of the sealed image.
    pub bytes: u64,
    /// Getting the image bytes: locating and checking them in PM (no copy),
    /// or the host's read of the checkpoint file (`ssd`).
    pub read_ns: u64,
    /// Opening (authenticating and decrypting) every record into the model.
    pub open_ns: u64,
    /// The whole mirror-in.
    pub total_ns: u64,
}

/// One training iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IterationReport {
    /// The iteration just completed (1 for the first one).
    pub iteration: u64,
    /// Images processed so far.
    pub seen: u64,
    /// Mean loss per image of this iteration's batch.
    pub loss: f32,
    /// Darknet's running average of the loss (0.9 old + 0.1 new).
    pub avg_loss: f32,
    /// Learning rate used by this iteration.
    pub learning_rate: f32,
    /// Drawing the batch indices and opening the sealed records.
    pub load_ns: u64,
    /// The training step (forward, backward, update).
    pub train_ns: u64,
    /// The mirror-out after this iteration, if one ran.
    pub mirror: Option<MirrorOutStats>,
}

/// A whole `train` call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainSummary {
    /// Iteration before the call.
    pub start_iteration: u64,
    /// Iteration after the call.
    pub end_iteration: u64,
    /// Loss of the last iteration (0 if none ran).
    pub last_loss: f32,
    /// Running average loss after the call.
    pub avg_loss: f32,
    /// Mirror-outs done.
    pub mirrors: u64,
    /// Total batch loading time.
    pub load_ns: u64,
    /// Total training step time.
    pub train_ns: u64,
    /// Total mirror-out time.
    pub mirror_ns: u64,
    /// Whether the host's callback stopped the run early.
    pub stopped: bool,
}
