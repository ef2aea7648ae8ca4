//! A tiny CSV writer for the experiments' outputs.
//!
//! ```no_run
//! # fn main() -> experiments::Result<()> {
//! let mut w = experiments::csv::CsvWriter::create("out.csv", &["flush", "n", "value"])?;
//! w.row(&[&"clwb", &16, &7.5])?;
//! w.finish()?;
//! # Ok(()) }
//! ```

use crate::error::{ExperimentError, Result};
use std::fmt::Display;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes a header line, then rows with the same number of fields. Fields with
/// a comma, a quote or a line break are quoted (RFC 4180).
pub struct CsvWriter<W: Write = BufWriter<File>> {
    out: W,
    columns: usize,
    name: PathBuf,
}

impl CsvWriter<BufWriter<File>> {
    /// Creates (or truncates) the file `path` and writes the header.
    pub fn create(path: impl AsRef<Path>, header: &[&str]) -> Result<Self> {
        let path = path.as_ref();
        let f = File::create(path).map_err(ExperimentError::io(path, "cannot create"))?;
        Self::new(BufWriter::new(f), path, header)
    }
}

impl<W: Write> CsvWriter<W> {
    /// Wraps any writer (`name` is used in error messages) and writes the header.
    pub fn new(out: W, name: impl AsRef<Path>, header: &[&str]) -> Result<Self> {
        let mut w = CsvWriter {
            out,
            columns: header.len(),
            name: name.as_ref().to_path_buf(),
        };
        let fields: Vec<&dyn Display> = header.iter().map(|h| h as &dyn Display).collect();
        w.write_line(&fields)?;
        Ok(w)
    }

    /// Writes one row; it must have as many fields as the header.
    pub fn row(&mut self, fields: &[&dyn Display]) -> Result<()> {
        if fields.len() != self.columns {
            return Err(ExperimentError::Options(format!(
                "{}: row has {} fields, the header has {}",
                self.name.display(),
                fields.len(),
                self.columns
            )));
        }
        self.write_line(fields)
    }

    fn write_line(&mut self, fields: &[&dyn Display]) -> Result<()> {
        let mut line = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&escape(&f.to_string()));
        }
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .map_err(ExperimentError::io(&self.name, "cannot write"))
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.out
            .flush()
            .map_err(ExperimentError::io(&self.name, "cannot write"))?;
        Ok(self.out)
    }
}

/// Quotes a field if it needs it.
pub fn escape(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_rows_and_quotes() {
        let mut w = CsvWriter::new(Vec::new(), "mem", &["a", "b"]).unwrap();
        w.row(&[&1, &"x,y"]).unwrap();
        w.row(&[&2.5, &"say \"hi\""]).unwrap();
        assert!(w.row(&[&1]).is_err());
        let s = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(s, "a,b\n1,\"x,y\"\n2.5,\"say \"\"hi\"\"\"\n");
    }
}
