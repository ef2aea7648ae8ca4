//! How the CLI prints an error: the chain of causes, each once.

/// The error and its causes joined by `: `, skipping a cause whose message
/// its parent's already ends with (errors that name a path often print their
/// source too, which `{:#}` would then repeat).
pub fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !out.is_empty() && out.ends_with(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("a.bin: {source}")]
    struct PathError {
        source: std::io::Error,
    }

    #[test]
    fn a_source_already_printed_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(PathError { source: io }).context("loading the model");
        assert_eq!(chain(&e), "loading the model: a.bin: no such file");
    }

    #[test]
    fn distinct_causes_are_all_printed() {
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("bad magic"));
        let e = e.context("x.pool").unwrap_err();
        assert_eq!(chain(&e), "x.pool: bad magic");
    }
}
