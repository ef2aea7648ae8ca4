//! The outputs of a spot run: the timeline in trace time (`spot.csv`), the
//! summary (`spot_summary.csv`) and the loss over the instance's state
//! (`spot.png`).

use std::path::Path;
use std::time::Duration;

use crate::csv::CsvWriter;
use crate::error::Result;
use crate::plot::{Panel, PanelChart, Series};
use crate::replay::Phase;
use crate::spot_child::Observation;
use crate::spot_report::SpotReport;

/// A completed iteration on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationLoss {
    /// The iteration.
    pub iteration: u64,
    /// Its loss.
    pub loss: f64,
}

/// One row of the timeline: a change of the instance's state, or a completed
/// iteration (the instance is then running).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineRow {
    /// Trace seconds since the start of the replay.
    pub trace_seconds: f64,
    /// Whether the instance runs.
    pub running: bool,
    /// The iteration completed at this time, if this row is one.
    pub completed: Option<IterationLoss>,
}

/// Trace time (seconds since the start of the replay) of wall time `w`: inside
/// the up phase that contains it (clamped to that phase); 0 without an up
/// phase.
pub fn trace_time(phases: &[Phase], speedup: f64, w: Duration) -> f64 {
    let Some(p) = phases
        .iter()
        .rev()
        .find(|p| p.up && p.wall_start <= w)
        .or_else(|| phases.iter().find(|p| p.up))
    else {
        return 0.0;
    };
    let into = w
        .saturating_sub(p.wall_start)
        .min(p.wall_end - p.wall_start);
    p.trace_start + into.as_secs_f64() * speedup
}

/// The timeline: the state changes of the phases before tick `end` and the
/// observed iterations, in trace time order.
pub fn timeline(
    phases: &[Phase],
    observed: &[Observation],
    speedup: f64,
    end: usize,
) -> Vec<TimelineRow> {
    let mut rows: Vec<TimelineRow> = phases
        .iter()
        .take_while(|p| p.start_tick < end)
        .map(|p| TimelineRow {
            trace_seconds: p.trace_start,
            running: p.up,
            completed: None,
        })
        .collect();
    rows.extend(observed.iter().map(|o| TimelineRow {
        trace_seconds: trace_time(phases, speedup, o.wall),
        running: true,
        completed: Some(IterationLoss {
            iteration: o.iteration,
            loss: o.loss,
        }),
    }));
    rows.sort_by(|x, y| x.trace_seconds.total_cmp(&y.trace_seconds));
    rows
}

/// Writes `spot.csv`: trace hours, running, the latest iteration and loss.
pub fn write_timeline_csv(path: &Path, rows: &[TimelineRow]) -> Result<()> {
    let mut w = CsvWriter::create(path, &["trace_hours", "running", "iteration", "loss"])?;
    let (mut it, mut loss) = (0u64, String::new());
    for r in rows {
        if let Some(c) = r.completed {
            it = c.iteration;
            loss = c.loss.to_string();
        }
        w.row(&[
            &format!("{:.5}", r.trace_seconds / 3600.0),
            &u8::from(r.running),
            &it,
            &loss,
        ])?;
    }
    w.finish()?;
    Ok(())
}

/// Writes `spot_summary.csv`: one row of settings and results.
pub fn write_summary_csv(path: &Path, r: &SpotReport, speedup: f64) -> Result<()> {
    let mut s = CsvWriter::create(
        path,
        &[
            "trace",
            "tick_seconds",
            "start_tick",
            "end_tick",
            "speedup",
            "iterations",
            "finished",
            "completed",
            "interruptions",
            "up_down_transitions",
            "starts",
            "lost_iterations",
            "trace_hours",
            "running_hours",
            "cost",
            "wall_s",
            "baseline_wall_s",
        ],
    )?;
    let o = &r.outcome;
    let cost = o.cost.map_or(String::new(), |c| format!("{c:.8}"));
    let base = r
        .baseline_wall
        .map_or(String::new(), |b| format!("{:.3}", b.as_secs_f64()));
    s.row(&[
        &r.source,
        &r.tick_seconds,
        &o.replayed.start,
        &o.replayed.end,
        &speedup,
        &r.iterations,
        &o.finished,
        &r.completed,
        &o.interruptions,
        &r.transitions,
        &o.starts,
        &r.lost,
        &format!("{:.6}", o.trace_seconds / 3600.0),
        &format!("{:.6}", o.running_seconds / 3600.0),
        &cost,
        &format!("{:.3}", o.wall.as_secs_f64()),
        &base,
    ])?;
    s.finish()?;
    Ok(())
}

/// The instance's state as a step line in trace hours (1 up, 0 down), to the
/// last row's time.
fn state_line(rows: &[TimelineRow]) -> Vec<(f64, f64)> {
    let mut state: Vec<(f64, f64)> = Vec::new();
    for r in rows.iter().filter(|r| r.completed.is_none()) {
        let h = r.trace_seconds / 3600.0;
        if let Some(&(_, prev)) = state.last() {
            state.push((h, prev));
        }
        state.push((h, if r.running { 1.0 } else { 0.0 }));
    }
    if let (Some(&(_, v)), Some(last)) = (state.last(), rows.last()) {
        state.push((last.trace_seconds / 3600.0, v));
    }
    state
}

/// Draws `spot.png`: the loss per iteration over the instance's state.
pub fn write_plot(path: &Path, rows: &[TimelineRow], source: &str) -> Result<()> {
    let loss: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.completed.map(|c| (r.trace_seconds / 3600.0, c.loss)))
        .collect();
    let name = Path::new(source)
        .file_name()
        .map_or(source.to_string(), |n| n.to_string_lossy().into_owned());
    PanelChart {
        title: format!("Training on a spot instance: {name} (Fig. 10)"),
        x_label: "trace time (hours)".into(),
        panels: vec![
            Panel {
                y_label: "loss".into(),
                series: vec![Series::new("training loss (one dot per iteration)", loss)],
                weight: 3,
                lines: false,
                ..Default::default()
            },
            Panel {
                y_label: "instance up".into(),
                series: vec![Series::new("running", state_line(rows))],
                weight: 1,
                markers: false,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
    .save_png(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(up: bool, start_tick: usize, trace_start: f64, wall: (u64, u64)) -> Phase {
        Phase {
            up,
            start_tick,
            ticks: 1,
            trace_start,
            wall_start: Duration::from_secs(wall.0),
            wall_end: Duration::from_secs(wall.1),
        }
    }

    #[test]
    fn timeline_places_iterations_in_their_up_phase() {
        // Down 0..1 s (trace 0..100 s), up 1..2 s (trace 100..200 s), down after.
        let phases = [
            phase(false, 0, 0.0, (0, 1)),
            phase(true, 1, 100.0, (1, 2)),
            phase(false, 2, 200.0, (2, 3)),
        ];
        assert_eq!(
            trace_time(&phases, 100.0, Duration::from_millis(1500)),
            150.0
        );
        // Past the up phase: clamped to its end.
        assert_eq!(trace_time(&phases, 100.0, Duration::from_secs(5)), 200.0);
        assert_eq!(trace_time(&[], 100.0, Duration::ZERO), 0.0);
        let obs = [Observation {
            wall: Duration::from_millis(1500),
            iteration: 4,
            loss: 0.5,
        }];
        let rows = timeline(&phases, &obs, 100.0, 2);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].completed.unwrap().iteration, 4);
        assert_eq!(rows[2].trace_seconds, 150.0);
        assert_eq!(
            state_line(&rows),
            [
                (0.0, 0.0),
                (100.0 / 3600.0, 0.0),
                (100.0 / 3600.0, 1.0),
                (150.0 / 3600.0, 1.0)
            ]
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("spot.csv");
        write_timeline_csv(&p, &rows).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "trace_hours,running,iteration,loss\n0.00000,0,0,\n0.02778,1,0,\n0.04167,1,4,0.5\n"
        );
    }
}
