//! Spot-instance traces: when a spot instance was running and what it cost.
//!
//! Two formats are read:
//! - **price traces**, CSV rows `price,index` (one row per tick, `index`
//!   strictly increasing; an optional header line whose first field is not a
//!   number). The instance runs in a tick when the bid is above the price, as in
//!   the PLINIUS paper. A gap in the indices means the price held: the previous
//!   price fills the missing ticks. The tick length is a setting (e.g. 5 min).
//! - **availability traces**, JSON `{"metadata":{"gap_seconds":N},"data":[0|1,...]}`:
//!   one 0 (preempted) or 1 (running) per tick of `gap_seconds`.
//!
//! Every error names the file and, where there is one, the line.

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// A trace failed to load.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the file is malformed.
    #[error("{file}: line {line}: {msg}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The file as a whole is unusable (empty, bad settings).
    #[error("{file}: {msg}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
}

/// A spot trace: the instance's state in each tick, and the price where known.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Where the trace came from (for messages).
    pub source: String,
    /// Length of one tick in seconds of trace time.
    pub tick_seconds: f64,
    /// Whether the instance runs in each tick.
    pub up: Vec<bool>,
    /// The price per hour in each tick (price traces only).
    pub price: Option<Vec<f64>>,
}

/// A maximal run of ticks in the same state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Whether the instance runs during the interval.
    pub up: bool,
    /// First tick.
    pub start: usize,
    /// Number of ticks (at least 1).
    pub ticks: usize,
}

impl Interval {
    /// One past the last tick.
    pub fn end(&self) -> usize {
        self.start + self.ticks
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ticks {}..{}",
            if self.up { "up" } else { "down" },
            self.start,
            self.end()
        )
    }
}

fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|source| TraceError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Parses a duration such as `300`, `30s`, `5m`, `1.5h` or `1d` into seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 300, 30s, 5m, 1h)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?}: a duration must be positive"));
    }
    Ok(v * mul)
}

impl Trace {
    /// Reads a price trace (`price,index` rows) and runs the instance in the
    /// ticks where `bid > price`.
    pub fn load_price_csv(path: &Path, bid: f64, tick_seconds: f64) -> Result<Trace, TraceError> {
        Self::parse_price_csv(&read(path)?, &path.display().to_string(), bid, tick_seconds)
    }

    /// Parses the text of a price trace; `file` names it in errors.
    pub fn parse_price_csv(
        text: &str,
        file: &str,
        bid: f64,
        tick_seconds: f64,
    ) -> Result<Trace, TraceError> {
        let invalid = |msg: String| TraceError::Invalid {
            file: file.to_string(),
            msg,
        };
        if !(bid.is_finite() && bid > 0.0) {
            return Err(invalid(format!("the bid {bid} must be a positive price")));
        }
        if !(tick_seconds.is_finite() && tick_seconds > 0.0) {
            return Err(invalid(format!(
                "the tick length {tick_seconds} s must be positive"
            )));
        }
        let mut prices: Vec<f64> = Vec::new();
        let mut last_index: Option<u64> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let bad = |msg: String| TraceError::Line {
                file: file.to_string(),
                line,
                msg,
            };
            let l = raw.trim();
            if l.is_empty() {
                continue;
            }
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            if fields.len() != 2 {
                return Err(bad(format!(
                    "expected 2 fields `price,index`, found {}: {l:?}",
                    fields.len()
                )));
            }
            let Ok(price) = fields[0].parse::<f64>() else {
                if prices.is_empty() && last_index.is_none() && n == first_content_line(text) {
                    // A header line such as `price,index`.
                    continue;
                }
                return Err(bad(format!("price {:?} is not a number", fields[0])));
            };
            if !(price.is_finite() && price >= 0.0) {
                return Err(bad(format!(
                    "price {price} must be a finite, non-negative number"
                )));
            }
            let index: u64 = fields[1].parse().map_err(|_| {
                bad(format!(
                    "index {:?} is not a non-negative integer",
                    fields[1]
                ))
            })?;
            if let Some(prev) = last_index {
                if index <= prev {
                    return Err(bad(format!(
                        "index {index} does not increase (previous row: {prev})"
                    )));
                }
                let gap = index - prev - 1;
                if gap > 10_000_000 {
                    return Err(bad(format!(
                        "index {index} jumps {gap} ticks past the previous row"
                    )));
                }
                let held = *prices.last().expect("a previous row exists");
                prices.extend(std::iter::repeat_n(held, gap as usize));
            }
            last_index = Some(index);
            prices.push(price);
        }
        if prices.is_empty() {
            return Err(invalid(
                "no price rows (expected `price,index` lines)".into(),
            ));
        }
        Ok(Trace {
            source: file.to_string(),
            tick_seconds,
            up: prices.iter().map(|&p| bid > p).collect(),
            price: Some(prices),
        })
    }

    /// Reads an availability trace (JSON with `metadata.gap_seconds` and `data`).
    pub fn load_availability_json(path: &Path) -> Result<Trace, TraceError> {
        Self::parse_availability_json(&read(path)?, &path.display().to_string())
    }

    /// Parses the text of an availability trace; `file` names it in errors.
    pub fn parse_availability_json(text: &str, file: &str) -> Result<Trace, TraceError> {
        let doc: AvailabilityDoc = serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            // serde_json appends " at line L column C"; report the line our way.
            let msg = match msg.rfind(" at line ") {
                Some(i) => msg[..i].to_string(),
                None => msg,
            };
            if e.line() == 0 {
                TraceError::Invalid {
                    file: file.to_string(),
                    msg,
                }
            } else {
                TraceError::Line {
                    file: file.to_string(),
                    line: e.line(),
                    msg: format!("{msg} (column {})", e.column()),
                }
            }
        })?;
        let gap = doc.metadata.gap_seconds;
        if !(gap.is_finite() && gap > 0.0) {
            return Err(TraceError::Invalid {
                file: file.to_string(),
                msg: format!("metadata.gap_seconds is {gap}, it must be positive"),
            });
        }
        if doc.data.is_empty() {
            return Err(TraceError::Invalid {
                file: file.to_string(),
                msg: "`data` is empty: the trace has no ticks".into(),
            });
        }
        Ok(Trace {
            source: file.to_string(),
            tick_seconds: gap,
            up: doc.data.into_iter().map(|s| s.0).collect(),
            price: None,
        })
    }

    /// Number of ticks.
    pub fn len(&self) -> usize {
        self.up.len()
    }

    /// Whether the trace has no ticks (never true for a loaded trace).
    pub fn is_empty(&self) -> bool {
        self.up.is_empty()
    }

    /// The ticks `range` of this trace (clamped to its end) as a trace of its own.
    pub fn window(&self, range: Range<usize>) -> Trace {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        Trace {
            source: format!("{} [ticks {start}..{end}]", self.source),
            tick_seconds: self.tick_seconds,
            up: self.up[start..end].to_vec(),
            price: self.price.as_ref().map(|p| p[start..end].to_vec()),
        }
    }

    /// The trace as maximal intervals of equal state, in order.
    pub fn intervals(&self) -> Vec<Interval> {
        let mut out: Vec<Interval> = Vec::new();
        for (i, &u) in self.up.iter().enumerate() {
            match out.last_mut() {
                Some(last) if last.up == u => last.ticks += 1,
                _ => out.push(Interval {
                    up: u,
                    start: i,
                    ticks: 1,
                }),
            }
        }
        out
    }

    /// Number of up→down transitions between consecutive ticks inside `range`
    /// (a trace that starts down has no transition at its first tick).
    pub fn up_down_transitions(&self, range: Range<usize>) -> usize {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        self.up[start..end]
            .windows(2)
            .filter(|w| w[0] && !w[1])
            .count()
    }

    /// Ticks in `range` during which the instance runs.
    pub fn up_ticks(&self, range: Range<usize>) -> usize {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        self.up[start..end].iter().filter(|&&u| u).count()
    }

    /// The first tick at or after `from` where the instance runs.
    pub fn next_up(&self, from: usize) -> Option<usize> {
        (from..self.len()).find(|&i| self.up[i])
    }

    /// The price of tick `i`, if this is a price trace.
    pub fn price_at(&self, i: usize) -> Option<f64> {
        self.price.as_ref().and_then(|p| p.get(i).copied())
    }
}

fn first_content_line(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct AvailabilityDoc {
    metadata: Metadata,
    data: Vec<State>,
}

#[derive(serde::Deserialize)]
struct Metadata {
    gap_seconds: f64,
}

/// One tick of an availability trace: 0/1 (or false/true).
struct State(bool);

impl<'de> serde::Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = State;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("0 (preempted) or 1 (running)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<State, E> {
                Ok(State(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<State, E> {
                match v {
                    0 => Ok(State(false)),
                    1 => Ok(State(true)),
                    _ => Err(E::custom(format_args!(
                        "data value {v}: expected 0 (preempted) or 1 (running)"
                    ))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<State, E> {
                if v >= 0 {
                    self.visit_u64(v as u64)
                } else {
                    Err(E::custom(format_args!(
                        "data value {v}: expected 0 (preempted) or 1 (running)"
                    )))
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<State, E> {
                Err(E::custom(format_args!(
                    "data value {v}: expected 0 (preempted) or 1 (running)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
    }

    #[test]
    fn price_rows_become_up_when_bid_above_price() {
        let t = Trace::parse_price_csv(
            "0.10,1\n0.09,2\n0.0955,3\n0.2,4\n0.05,5\n",
            "p.csv",
            0.0955,
            300.0,
        )
        .unwrap();
        assert_eq!(t.up, vec![false, true, false, false, true]);
        assert_eq!(t.price_at(1), Some(0.09));
        assert_eq!(t.tick_seconds, 300.0);
        assert_eq!(
            t.intervals(),
            vec![
                Interval {
                    up: false,
                    start: 0,
                    ticks: 1
                },
                Interval {
                    up: true,
                    start: 1,
                    ticks: 1
                },
                Interval {
                    up: false,
                    start: 2,
                    ticks: 2
                },
                Interval {
                    up: true,
                    start: 4,
                    ticks: 1
                },
            ]
        );
        assert_eq!(t.up_down_transitions(0..5), 1);
        assert_eq!(t.up_down_transitions(2..5), 0);
        assert_eq!(t.up_ticks(0..5), 2);
        assert_eq!(t.next_up(2), Some(4));
    }

    #[test]
    fn price_header_blank_lines_and_gaps() {
        let t = Trace::parse_price_csv(
            "price,index\n\n0.05,10\n0.20,13\r\n0.01,14\n",
            "p.csv",
            0.1,
            60.0,
        )
        .unwrap();
        // Ticks 11 and 12 hold the price of tick 10.
        assert_eq!(t.price.as_deref(), Some(&[0.05, 0.05, 0.05, 0.2, 0.01][..]));
        assert_eq!(t.up, vec![true, true, true, false, true]);
    }

    #[test]
    fn price_errors_name_file_and_line() {
        let e = |text: &str| {
            Trace::parse_price_csv(text, "spot.csv", 0.1, 300.0)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("0.1,1\n0.2\n"),
            "spot.csv: line 2: expected 2 fields `price,index`, found 1: \"0.2\""
        );
        assert!(e("0.1,1\nabc,2\n").starts_with("spot.csv: line 2: price \"abc\" is not a number"));
        assert!(e("0.1,1\n0.2,x\n").starts_with("spot.csv: line 2: index \"x\""));
        assert!(e("0.1,5\n0.2,5\n").contains("line 2: index 5 does not increase"));
        assert!(e("0.1,1\n-1,2\n").contains("line 2: price -1 must be"));
        assert!(e("0.1,1\nNaN,2\n").contains("line 2"));
        assert_eq!(
            e(""),
            "spot.csv: no price rows (expected `price,index` lines)"
        );
        assert_eq!(
            e("price,index\n"),
            "spot.csv: no price rows (expected `price,index` lines)"
        );
        // A second non-numeric line is not a header.
        assert!(e("price,index\nfoo,bar\n").starts_with("spot.csv: line 2:"));
        let bid = Trace::parse_price_csv("0.1,1\n", "spot.csv", 0.0, 300.0).unwrap_err();
        assert!(bid.to_string().contains("bid"), "{bid}");
        let tick = Trace::parse_price_csv("0.1,1\n", "spot.csv", 0.1, 0.0).unwrap_err();
        assert!(tick.to_string().contains("tick"), "{tick}");
    }

    #[test]
    fn availability_json_parses_and_errors_name_the_line() {
        let t = Trace::parse_availability_json(
            "{\"metadata\": {\"gap_seconds\": 32},\n \"data\": [0, 1, 1, 0, 1]}",
            "a.json",
        )
        .unwrap();
        assert_eq!(t.tick_seconds, 32.0);
        assert_eq!(t.up, vec![false, true, true, false, true]);
        assert!(t.price.is_none());
        assert_eq!(t.up_down_transitions(0..5), 1);

        let e = |text: &str| {
            Trace::parse_availability_json(text, "a.json")
                .unwrap_err()
                .to_string()
        };
        let m = e("{\"metadata\": {\"gap_seconds\": 32},\n\"data\": [0,\n 1,\n 2]}");
        assert!(
            m.starts_with("a.json: line 4: data value 2: expected 0"),
            "{m}"
        );
        let m = e("{\"metadata\": {\"gap_seconds\": 32},\n\"data\": [0, 1,");
        assert!(m.starts_with("a.json: line 2:"), "{m}");
        let m = e("{\"metadata\": {},\n\"data\": [1]}");
        assert!(m.contains("gap_seconds"), "{m}");
        let m = e("{\"metadata\": {\"gap_seconds\": 0}, \"data\": [1]}");
        assert!(m.contains("gap_seconds is 0"), "{m}");
        let m = e("{\"metadata\": {\"gap_seconds\": 5}, \"data\": []}");
        assert_eq!(m, "a.json: `data` is empty: the trace has no ticks");
        let m = e("{\"metadata\": {\"gap_seconds\": 5}, \"data\": [1, -1]}");
        assert!(m.contains("data value -1"), "{m}");
        let m = e("{\"metadata\": {\"gap_seconds\": 5}, \"data\": [1, 0.5]}");
        assert!(m.contains("data value 0.5"), "{m}");
        let m = e("");
        assert!(m.starts_with("a.json:"), "{m}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = Trace::load_availability_json(Path::new("/nonexistent/t.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/t.json: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn repository_traces_load() {
        let p = Trace::load_price_csv(&data_dir().join("spot-price-c3.2xlarge.csv"), 0.0955, 300.0)
            .unwrap();
        assert_eq!(p.len(), 129_601);
        // The trace starts above the bid: down first.
        assert!(!p.up[0]);
        assert!(p.up_down_transitions(0..p.len()) > 100);
        let a = Trace::load_availability_json(
            &data_dir().join("spot-preemption-aws-us-east-1f-v100.json"),
        )
        .unwrap();
        assert_eq!(a.tick_seconds, 32.0);
        assert!(!a.up[0]);
        let iv = a.intervals();
        assert_eq!(iv.iter().map(|i| i.ticks).sum::<usize>(), a.len());
        assert!(
            iv.windows(2)
                .all(|w| w[0].up != w[1].up && w[0].end() == w[1].start)
        );
    }

    #[test]
    fn windows_and_durations() {
        let t = Trace::parse_availability_json(
            "{\"metadata\": {\"gap_seconds\": 10}, \"data\": [1, 1, 0, 0, 1, 0]}",
            "a.json",
        )
        .unwrap();
        let w = t.window(1..100);
        assert_eq!(w.up, vec![true, false, false, true, false]);
        assert_eq!(w.up_down_transitions(0..w.len()), 2);
        assert_eq!(t.window(9..12).len(), 0);
        assert_eq!(parse_duration("5m").unwrap(), 300.0);
        assert_eq!(parse_duration("32").unwrap(), 32.0);
        assert_eq!(parse_duration("1.5h").unwrap(), 5400.0);
        assert_eq!(parse_duration("30s").unwrap(), 30.0);
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("fivem").is_err());
    }
}
