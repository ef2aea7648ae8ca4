//! The training loop: batch indices from the enclave's own sampler, sealed
//! records copied from the pool's dataset area and opened in private memory,
//! one training step, mirror-out every K iterations.

use super::{Enclave, Sampler, ns};
use crate::error::{EnclaveError, Result};
use crate::layout;
use crate::stats::{IterationReport, TrainSummary};
use nn::BatchSampler;
use ptm::{PmBackend, Pool};
use seal::dataset::SealedDataset;
use std::ops::ControlFlow;
use std::time::Instant;

impl Enclave {
    /// One training iteration, without mirroring: draws the batch indices
    /// from the enclave's sampler, opens those records of the dataset in the
    /// pool's dataset area (each record is copied into the batch buffer, then
    /// authenticated and decrypted there: [`seal::open_into`]), trains one
    /// step. A record that fails to open is an error naming the sample;
    /// nothing is trained and the sampler is rewound.
    pub fn step<B: PmBackend>(&mut self, pool: &Pool<B>) -> Result<IterationReport> {
        let sb = self.session()?.sb;
        let data = layout::complete_dataset(pool.raw(), sb.dataset_area)?;
        // The header is read once into private memory, parsed and verified
        // there: the host may write the shared mapping at any time.
        let what = "the dataset in the pool";
        let header = seal::dataset::private_header(data, what)?;
        let ds = SealedDataset::with_header(&header, data, what)?;
        self.check_dataset(&ds, &header)?;
        let t0 = Instant::now();
        let h = *ds.header();
        let per = h.pixels();
        let batch = self.net.batch();
        let s = self.sampler.get_or_insert_with(|| Sampler {
            rng: BatchSampler::new(self.seed, h.sample_count as usize),
            dataset_id: h.dataset_id,
            count: h.sample_count,
        });
        // The record of sample k is opened into pixels[k*per .. k*per + per + 1]:
        // its label byte lands on the next sample's first pixel (overwritten
        // next) and is read out first; one spare byte for the last label.
        self.pixels.resize(batch * per + 1, 0);
        self.labels.resize(batch, 0);
        self.indices.resize(batch, 0);
        let saved = s.rng.state();
        s.rng.fill(&mut self.indices);
        for (k, &i) in self.indices.iter().enumerate() {
            let i = i as u64;
            let out = &mut self.pixels[(k * per)..=(k * per + per)];
            let opened = ds.record(i).and_then(|rec| {
                seal::dataset::open_sample(&self.keys.dataset, &h.dataset_id, i, rec, out)
            });
            match opened {
                Ok(label) => self.labels[k] = label,
                Err(e) => {
                    s.rng.set_state(&saved).map_err(nn::NnError::from)?;
                    self.pixels.fill(0);
                    let reason = match e {
                        seal::SealError::Open { .. } => "the sealed record does not open \
                            (tampered, moved, relabelled or from another dataset)"
                            .to_string(),
                        other => other.to_string(),
                    };
                    return Err(EnclaveError::Sample {
                        dataset: h.id_hex(),
                        index: i,
                        reason,
                    });
                }
            }
        }
        let load_ns = ns(t0);
        let learning_rate = self.net.next_learning_rate();
        let t1 = Instant::now();
        let loss = match self
            .net
            .train_step_u8(&self.pixels[..batch * per], &self.labels)
        {
            Ok(l) => l,
            Err(e) => {
                s.rng.set_state(&saved).map_err(nn::NnError::from)?;
                return Err(e.into());
            }
        };
        let train_ns = ns(t1);
        self.loss = loss;
        self.avg_loss = if self.avg_loss < 0.0 {
            loss
        } else {
            self.avg_loss * 0.9 + loss * 0.1
        };
        Ok(IterationReport {
            iteration: self.net.iteration(),
            seen: self.net.seen(),
            loss,
            avg_loss: self.avg_loss,
            learning_rate,
            load_ns,
            train_ns,
            mirror: None,
        })
    }

    /// Checks the dataset's header (`raw`: the private copy `ds` was parsed
    /// from) unless these very header bytes were verified before in this
    /// session.
    fn check_dataset(
        &mut self,
        ds: &SealedDataset<'_>,
        raw: &[u8; seal::dataset::HEADER_LEN],
    ) -> Result<()> {
        let h = *ds.header();
        if self.session()?.dataset_checked.as_ref() == Some(raw) {
            return Ok(());
        }
        ds.verify_header(&self.keys.dataset)?;
        self.check_trainable(&h)?;
        if let Some(s) = &self.sampler
            && (s.dataset_id != h.dataset_id || s.count != h.sample_count)
        {
            return Err(EnclaveError::Dataset(format!(
                "the mirror's data cursor is for dataset {} ({} samples), the pool holds dataset \
                 {} ({} samples)",
                hex::encode(s.dataset_id),
                s.count,
                h.id_hex(),
                h.sample_count
            )));
        }
        if let Some(s) = self.session.as_mut() {
            s.dataset_checked = Some(*raw);
        }
        Ok(())
    }

    /// Trains until the iteration reaches `target`, mirroring out every
    /// `mirror_every` iterations and after the last one. `on_iteration` sees
    /// every iteration's report (with its mirror-out, if any); returning
    /// `Break` stops after mirroring the state.
    pub fn train_until<B: PmBackend>(
        &mut self,
        pool: &mut Pool<B>,
        target: u64,
        on_iteration: &mut dyn FnMut(&IterationReport) -> ControlFlow<()>,
    ) -> Result<TrainSummary> {
        let start = self.net.iteration();
        let mut sum = TrainSummary {
            start_iteration: start,
            end_iteration: start,
            avg_loss: self.avg_loss,
            ..TrainSummary::default()
        };
        let every = self.config.mirror_every;
        while self.net.iteration() < target {
            let mut r = self.step(pool)?;
            sum.load_ns += r.load_ns;
            sum.train_ns += r.train_ns;
            sum.last_loss = r.loss;
            sum.avg_loss = r.avg_loss;
            sum.end_iteration = r.iteration;
            if r.iteration % every == 0 || r.iteration >= target {
                let m = self.mirror_out(pool)?;
                sum.mirrors += 1;
                sum.mirror_ns += m.total_ns;
                r.mirror = Some(m);
            }
            if on_iteration(&r).is_break() {
                if r.mirror.is_none() {
                    let m = self.mirror_out(pool)?;
                    sum.mirrors += 1;
                    sum.mirror_ns += m.total_ns;
                }
                sum.stopped = true;
                break;
            }
        }
        Ok(sum)
    }

    /// Trains `iterations` more iterations (see [`Enclave::train_until`]).
    pub fn train<B: PmBackend>(
        &mut self,
        pool: &mut Pool<B>,
        iterations: u64,
        on_iteration: &mut dyn FnMut(&IterationReport) -> ControlFlow<()>,
    ) -> Result<TrainSummary> {
        let target = self.net.iteration().saturating_add(iterations);
        self.train_until(pool, target, on_iteration)
    }
}
