//! How log lines look where they land. Colours help a person at a
//! terminal and nowhere else: in a file, a pipe or the journal, ANSI
//! escapes are noise (`[2m…[0m`) that breaks `grep` and log shippers.

use std::io::IsTerminal;

/// The shape of the node's log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogStyle {
    /// ANSI colours and dimming.
    pub ansi: bool,
    /// Leave out the timestamp: journald stamps every line itself.
    pub timestamps: bool,
}

impl LogStyle {
    /// The style for stderr in this process's environment.
    pub fn for_stderr() -> LogStyle {
        LogStyle::decide(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var_os("JOURNAL_STREAM").is_some(),
        )
    }

    /// Colours only on a terminal, never with `NO_COLOR`
    /// (no-color.org: set and not empty) and never under systemd
    /// (`JOURNAL_STREAM` says stderr is the journal); no timestamps of
    /// our own under systemd.
    pub fn decide(terminal: bool, no_color: bool, journal: bool) -> LogStyle {
        LogStyle {
            ansi: terminal && !no_color && !journal,
            timestamps: !journal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color_or_the_journal() {
        assert!(LogStyle::decide(true, false, false).ansi);
        assert!(!LogStyle::decide(false, false, false).ansi);
        assert!(!LogStyle::decide(true, true, false).ansi);
        assert!(!LogStyle::decide(true, false, true).ansi);
        assert!(!LogStyle::decide(true, false, true).timestamps);
        assert!(LogStyle::decide(false, false, false).timestamps);
    }
}
