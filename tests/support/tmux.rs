//! The real TUI in a real terminal: a tmux server of the test's own.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Numbers the servers of one test process (its tests run in parallel).
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A tmux server of our own (its own socket), killed on drop with every
/// session in it, whether the test passed or not.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// Starts `command` (a shell command line) in a detached session.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!(
                "officemesh-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        };
        let out = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.run(&["send-keys", "-t", "tui", key]);
            assert!(out.status.success(), "send-keys {key}");
            // One key per read: the TUI sees them as an operator types.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` a character at a time, each sent literally (`-l`),
    /// so `-`, `.` and spaces are characters, not key names or options.
    pub fn text(&self, text: &str) {
        for c in text.chars() {
            let c = c.to_string();
            let out = self.run(&["send-keys", "-t", "tui", "-l", &c]);
            assert!(out.status.success(), "send-keys -l {c}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "tui"]).stdout).into()
    }

    pub fn format(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "tui", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen satisfies `check`; panics with the screen.
    pub fn wait_for(&self, what: &str, within: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("the screen never showed {what}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
