//! Configuration errors that name the file, the line, the key and what was
//! expected, so an operator can fix the file without reading code.

use std::ops::Range;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: not valid TOML: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: unknown key `{key}` (expected {expected})")]
    UnknownKey {
        file: PathBuf,
        line: usize,
        key: String,
        expected: String,
    },
    #[error("{file}:{line}: `{key}` has a wrong value: {expected}")]
    InvalidValue {
        file: PathBuf,
        line: usize,
        key: String,
        expected: String,
    },
    #[error("{file}:{line}: `{key}` is required but missing")]
    MissingKey {
        file: PathBuf,
        line: usize,
        key: String,
    },
    #[error("{file}:{line}: `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
    #[error(
        "no data directory: pass --data-dir, set node.data_dir or $STATE_DIRECTORY \
         (no home directory was found either)"
    )]
    NoDataDir,
}

/// 1-based line of the byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted name of the key at `span`: the nearest table header above
/// it, then the key on its line (the span itself for an unknown key, the
/// text before `=` for a value).
pub(crate) fn key_at(text: &str, span: &Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        // The span is a header, or the key of a table header itself.
        let inner = &text[span.start.min(text.len())..span.end.min(text.len())];
        let inner = inner.trim().trim_matches(|c| c == '[' || c == ']').trim();
        let header = trimmed.trim_matches(|c| c == '[' || c == ']').trim();
        return if inner.is_empty() || inner.contains('\n') {
            header.to_string()
        } else {
            inner.to_string()
        };
    }
    let key = match line.split_once('=') {
        Some((key, _)) => key.trim().trim_matches('"').to_string(),
        None => text[start..span.end.min(text.len())].trim().to_string(),
    };
    match table_header_above(text, line_start) {
        Some(header) if !header.is_empty() => format!("{header}.{key}"),
        _ => key,
    }
}

/// The `[header]` (or `[[header]]`) in force at byte `pos`.
pub(crate) fn table_header_above(text: &str, pos: usize) -> Option<String> {
    text[..pos.min(text.len())]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
}

/// The line of `key = ...` inside `[section]`, for errors found after
/// parsing (a range whose min exceeds its max, say).
pub(crate) fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            current = line
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .to_string();
        } else if current == section && line.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return i + 1;
        }
    }
    1
}

/// 1-based line of the `index`-th (from 0) occurrence of the table header
/// `header` (e.g. `[[sensor]]`), so an error in a device table points at it.
pub(crate) fn line_of_table(text: &str, header: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, raw)| raw.split('#').next().unwrap_or("").trim() == header)
        .nth(index)
        .map_or(1, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn keys_are_qualified_by_their_table() {
        let text = "[node]\nzone = 3\n[gossip]\nbogus = 1\n";
        let value = text.find('3').unwrap();
        assert_eq!(key_at(text, &(value..value + 1)), "node.zone");
        let bogus = text.find("bogus").unwrap();
        assert_eq!(key_at(text, &(bogus..bogus + 5)), "gossip.bogus");
        assert_eq!(line_of_key(text, "gossip", "bogus"), 4);
    }
}
