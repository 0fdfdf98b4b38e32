//! Open-window detection: a fast temperature drop in a heated room means a
//! window is open, and heating it is heating the street.
//!
//! A drop of at least `drop` °C within `within` holds the zone's heating
//! off for `hold`, from the sample that showed the drop. Sans-IO: samples
//! and times are passed in. Off unless `[heating.open_window]` is given.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use crate::time::Time;

/// `[heating.open_window]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenWindowConfig {
    /// °C the temperature must fall. Default 1.0.
    #[serde(default = "default_drop")]
    pub drop: f64,
    /// Seconds the fall must happen within. Default 300.
    #[serde(default = "default_within")]
    pub within: u64,
    /// Seconds the heating stays off once a window is seen open. Default 900.
    #[serde(default = "default_hold")]
    pub hold: u64,
}

fn default_drop() -> f64 {
    1.0
}
fn default_within() -> u64 {
    300
}
fn default_hold() -> u64 {
    900
}

impl Default for OpenWindowConfig {
    fn default() -> Self {
        OpenWindowConfig {
            drop: default_drop(),
            within: default_within(),
            hold: default_hold(),
        }
    }
}

/// Why an `[heating.open_window]` table is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpenWindowConfigError {
    #[error("open_window.drop must be a positive number of °C, not {0}")]
    Drop(f64),
    #[error("open_window.within and open_window.hold must be at least 1 s")]
    Zero,
}

impl OpenWindowConfig {
    pub fn validate(&self) -> Result<(), OpenWindowConfigError> {
        if !(self.drop.is_finite() && self.drop > 0.0) {
            return Err(OpenWindowConfigError::Drop(self.drop));
        }
        if self.within == 0 || self.hold == 0 {
            return Err(OpenWindowConfigError::Zero);
        }
        Ok(())
    }
}

/// The detector of one zone.
#[derive(Debug, Clone)]
pub struct OpenWindow {
    config: OpenWindowConfig,
    /// Samples of the last `within`, oldest first.
    recent: VecDeque<(Time, f64)>,
    /// When the window was seen open and until when heating is held off.
    open: Option<(Time, Time)>,
}

impl OpenWindow {
    pub fn new(config: OpenWindowConfig) -> OpenWindow {
        OpenWindow {
            config,
            recent: VecDeque::new(),
            open: None,
        }
    }

    /// Takes a temperature sample; returns whether this sample opened the
    /// window (so the caller can say so once).
    pub fn observe(&mut self, at: Time, celsius: f64) -> bool {
        if !celsius.is_finite() {
            return false;
        }
        let within = Duration::from_secs(self.config.within);
        while let Some(&(t, _)) = self.recent.front() {
            if at.saturating_since(t) > within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        // Samples arrive in order; an older one (a restarted clock) resets.
        if self.recent.back().is_some_and(|&(t, _)| t > at) {
            self.recent.clear();
        }
        let highest = self
            .recent
            .iter()
            .map(|&(_, c)| c)
            .fold(f64::NEG_INFINITY, f64::max);
        self.recent.push_back((at, celsius));
        let was_open = self.open_at(at).is_some();
        if highest - celsius >= self.config.drop {
            let hold_until = at + Duration::from_secs(self.config.hold);
            let since = self.open_at(at).unwrap_or(at);
            self.open = Some((since, hold_until));
            // The drop is accounted for; a further drop is measured from here.
            self.recent.clear();
            self.recent.push_back((at, celsius));
            return !was_open;
        }
        false
    }

    /// When the window was seen open, while heating is held off at `now`.
    pub fn open_at(&self, now: Time) -> Option<Time> {
        self.open
            .filter(|&(_, until)| now < until)
            .map(|(since, _)| since)
    }

    /// When the hold ends, while it lasts: the caller rechecks then.
    pub fn hold_until(&self, now: Time) -> Option<Time> {
        self.open.filter(|&(_, until)| now < until).map(|(_, u)| u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::{SimulatedRoom, SimulatedRoomConfig};

    fn secs(s: u64) -> Time {
        Time::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn a_fast_drop_opens_and_the_hold_ends_on_time() {
        let mut w = OpenWindow::new(OpenWindowConfig {
            drop: 1.0,
            within: 300,
            hold: 600,
        });
        assert!(!w.observe(secs(0), 21.0));
        assert!(!w.observe(secs(60), 20.8));
        assert!(!w.observe(secs(120), 20.3));
        assert!(w.observe(secs(180), 19.9), "1.1 °C in 3 min");
        assert_eq!(w.open_at(secs(180)), Some(secs(180)));
        assert_eq!(w.hold_until(secs(200)), Some(secs(780)));
        assert!(!w.observe(secs(240), 18.8), "already open: not news");
        assert_eq!(w.open_at(secs(240)), Some(secs(180)));
        assert_eq!(
            w.hold_until(secs(240)),
            Some(secs(840)),
            "a further drop extends the hold"
        );
        assert_eq!(w.open_at(secs(840)), None);
    }

    #[test]
    fn a_slow_drop_is_the_evening_not_a_window() {
        let mut w = OpenWindow::new(OpenWindowConfig {
            drop: 1.0,
            within: 300,
            hold: 600,
        });
        for i in 0..60u64 {
            // 0.1 °C every 2 min: 3 °C over two hours.
            assert!(!w.observe(secs(i * 120), 21.0 - 0.1 * i as f64));
        }
        assert_eq!(w.open_at(secs(7200)), None);
    }

    #[test]
    fn the_simulated_room_with_its_window_open_is_detected() {
        let config = SimulatedRoomConfig {
            initial: 21.0,
            noise: 0.05,
            ..SimulatedRoomConfig::default()
        };
        let mut room = SimulatedRoom::new(config, Time::ZERO);
        let mut w = OpenWindow::new(OpenWindowConfig::default());
        let mut opened_at = None;
        for s in (0..3600u64).step_by(30) {
            let t = secs(s);
            if s == 1200 {
                room.set_window_open(t, true);
            }
            let c = room.measure(t);
            if w.observe(t, c) && opened_at.is_none() {
                opened_at = Some(s);
            }
        }
        let opened_at = opened_at.expect("the open window is detected");
        assert!(
            (1200..=1500).contains(&opened_at),
            "detected {opened_at} s, window opened at 1200 s"
        );
    }
}
