//! Talking to systemd under `Type=notify`: `READY=1` once the node listens,
//! a `STATUS=` line a person understands ("3 neighbours, 50 nodes known,
//! kitchen heating"), `WATCHDOG=1` while the node loop works, `STOPPING=1`
//! on the way out. Outside systemd (`NOTIFY_SOCKET` unset) it does nothing.
//!
//! The pings come from a thread of their own that reads the node's
//! [`Health`]: it pings only when the loop has ticked since the previous
//! ping, so a loop stuck on anything (a deadlock, a blocking call, a
//! runaway computation) stops the pings and systemd restarts the node
//! after `WatchdogSec=`.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::node::health::{Health, HealthSummary};

/// Without a watchdog, how often the `STATUS=` line is refreshed.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// The running notifier; [`Notifier::stopping`] ends it.
#[derive(Debug)]
pub struct Notifier {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Tells systemd the node is ready and starts the status and watchdog
    /// thread. `None` when not started by systemd with `Type=notify`.
    pub fn ready(health: Health) -> Option<Notifier> {
        std::env::var_os("NOTIFY_SOCKET")?;
        let status = status_line(&health.summary());
        if let Err(error) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)]) {
            tracing::warn!(%error, "could not tell systemd the node is ready");
        }
        let watchdog = sd_notify::watchdog_enabled();
        // systemd's advice: ping at half the interval.
        let period = watchdog.map_or(STATUS_EVERY, |w| w / 2);
        if let Some(w) = watchdog {
            tracing::info!(interval = ?w, "systemd watchdog enabled");
        }
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("systemd-notify".into())
            .spawn(move || run(health, watchdog.is_some(), period, status, stopped))
            .map_err(|error| tracing::warn!(%error, "could not start the systemd notifier"))
            .ok()?;
        Some(Notifier {
            stop,
            thread: Some(thread),
        })
    }

    /// Tells systemd the node is re-reading its configuration (SIGHUP):
    /// `systemctl reload` waits until [`Notifier::reloaded`]. The
    /// `MONOTONIC_USEC=` stamp is what systemd requires with `RELOADING=1`
    /// under `Type=notify-reload`, and harmless under `Type=notify`.
    pub fn reloading(&self) {
        let mut states = vec![
            NotifyState::Reloading,
            NotifyState::Status("reloading the configuration"),
        ];
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        if let Err(error) = sd_notify::notify(&states) {
            tracing::warn!(%error, "could not tell systemd the node is reloading");
        }
    }

    /// Tells systemd the reload is over and the node is ready again.
    pub fn reloaded(&self, status: &str) {
        if let Err(error) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]) {
            tracing::warn!(%error, "could not tell systemd the reload is over");
        }
    }

    /// Tells systemd the node is stopping and ends the thread.
    pub fn stopping(mut self) {
        let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("leaving")]);
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    health: Health,
    watchdog: bool,
    period: Duration,
    mut last_status: String,
    stopped: mpsc::Receiver<()>,
) {
    let mut last_ticks = health.loop_ticks();
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
        let ticks = health.loop_ticks();
        let alive = ticks != last_ticks;
        last_ticks = ticks;
        let status = status_line(&health.summary());
        let mut states = Vec::with_capacity(2);
        if watchdog && alive {
            states.push(NotifyState::Watchdog);
        } else if watchdog {
            tracing::error!("the node loop has not ticked for {period:?}: no watchdog ping");
        }
        if status != last_status {
            states.push(NotifyState::Status(&status));
        }
        if !states.is_empty() {
            if let Err(error) = sd_notify::notify(&states) {
                tracing::warn!(%error, "could not notify systemd");
            }
        }
        last_status = status;
    }
}

/// One line for `systemctl status`: neighbours, nodes known, what heats.
pub fn status_line(summary: &HealthSummary) -> String {
    let neighbours = match summary.active_peers {
        0 => "no neighbours yet".to_string(),
        1 => "1 neighbour".to_string(),
        n => format!("{n} neighbours"),
    };
    let nodes = match summary.nodes_known {
        1 => "1 node known".to_string(),
        n => format!("{n} nodes known"),
    };
    let heating = match summary.zones_heating.as_slice() {
        [] => "nothing heating".to_string(),
        zones => format!("{} heating", zones.join(", ")),
    };
    format!("{neighbours}, {nodes}, {heating}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_reads_as_a_sentence() {
        let summary = HealthSummary {
            active_peers: 3,
            nodes_known: 50,
            zones_heating: vec!["kitchen".into()],
            ..HealthSummary::default()
        };
        assert_eq!(
            status_line(&summary),
            "3 neighbours, 50 nodes known, kitchen heating"
        );
        let alone = HealthSummary {
            nodes_known: 1,
            ..HealthSummary::default()
        };
        assert_eq!(
            status_line(&alone),
            "no neighbours yet, 1 node known, nothing heating"
        );
    }
}
