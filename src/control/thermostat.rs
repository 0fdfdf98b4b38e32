//! The thermostat of one zone: a sans-IO state machine.
//!
//! The caller passes the time, the zone's target (the deterministic winner
//! when the target register has siblings) and the latest local temperature
//! sample; it gets back whether the heater should be on. It never reads a
//! clock and owns no device, so the closed loop runs on virtual time.
//!
//! Rules, in priority order:
//! 1. **Fail safe**: no target, no sample, or a sample older than
//!    `stale_after` → off, immediately (safety beats relay wear: this is
//!    the only way the minimum on time is cut short).
//! 2. **Hysteresis**: on below `target − hysteresis/2`, off above
//!    `target + hysteresis/2`, unchanged in between, so sensor noise
//!    cannot chatter the relay.
//! 3. **Held off**: the caller can hold the heater off (an open window);
//!    unlike the fail-safe this waits for `min_on`, it is not a fault.
//! 4. **Maximum duty**: if the heater was on for `max_duty` of the trailing
//!    `duty_window`, it goes (or stays) off.
//! 5. **Minimum times**: a regulating switch waits until the heater has been
//!    on for `min_on` or off for `min_off`, protecting boilers and relay
//!    contacts. The thermostat starts as "off since it was created", so a
//!    node restarting in a loop cannot cycle the boiler either.

use std::collections::VecDeque;
use std::time::Duration;

use crate::sensors::{Quantity, Reading};
use crate::time::Time;

/// The thermostat's tuning, derived from `[heating]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThermostatConfig {
    /// Width of the dead band around the target, °C.
    pub hysteresis: f64,
    pub min_on: Duration,
    pub min_off: Duration,
    /// Largest fraction (0..=1) of `duty_window` the heater may be on.
    pub max_duty: Option<f64>,
    pub duty_window: Duration,
    /// A sample older than this is not trusted.
    pub stale_after: Duration,
}

impl Default for ThermostatConfig {
    fn default() -> Self {
        ThermostatConfig {
            hysteresis: 0.4,
            min_on: Duration::from_secs(120),
            min_off: Duration::from_secs(120),
            max_duty: None,
            duty_window: Duration::from_secs(3600),
            stale_after: Duration::from_secs(120),
        }
    }
}

/// A temperature measured in the zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub celsius: f64,
    pub at: Time,
}

impl Sample {
    /// The temperature in `reading`, if it is one.
    pub fn from_reading(reading: &Reading) -> Option<Sample> {
        (reading.quantity == Quantity::Temperature).then_some(Sample {
            celsius: reading.value,
            at: reading.at,
        })
    }
}

/// Why the heater is in the state it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Fail-safe: no target is known for the zone.
    NoTarget,
    /// Fail-safe: no temperature was ever measured.
    NoReading,
    /// Fail-safe: the last temperature is older than `stale_after`.
    StaleReading,
    /// Colder than the band: heat.
    BelowBand,
    /// Warmer than the band: stop.
    AboveBand,
    /// Inside the band: keep the current state.
    InBand,
    /// Was on for `max_duty` of the window.
    DutyLimit,
    /// The caller holds the heater off (an open window).
    HeldOff,
    /// Would switch off, but has not been on for `min_on` yet.
    MinOnTime,
    /// Would switch on, but has not been off for `min_off` yet.
    MinOffTime,
}

impl Reason {
    /// True for the reasons that force the heater off at once.
    pub fn is_fail_safe(self) -> bool {
        matches!(
            self,
            Reason::NoTarget | Reason::NoReading | Reason::StaleReading
        )
    }
}

/// What the caller should do after an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The heater state to apply.
    pub on: bool,
    /// The state differs from the previous decision.
    pub changed: bool,
    pub reason: Reason,
    /// Call [`Thermostat::update`] again by then even without a new sample
    /// (a minimum time ends or the sample goes stale).
    pub recheck_at: Option<Time>,
}

#[derive(Debug, Clone)]
pub struct Thermostat {
    config: ThermostatConfig,
    on: bool,
    since: Time,
    /// Heating periods overlapping the duty window; the last one may be open.
    periods: VecDeque<(Time, Option<Time>)>,
}

impl Thermostat {
    /// A thermostat, off since `now`.
    pub fn new(config: ThermostatConfig, now: Time) -> Thermostat {
        Thermostat {
            config,
            on: false,
            since: now,
            periods: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &ThermostatConfig {
        &self.config
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// When the heater last switched (or the thermostat was created).
    pub fn since(&self) -> Time {
        self.since
    }

    /// Fraction of the trailing duty window the heater was on.
    pub fn duty(&self, now: Time) -> f64 {
        let window = self.config.duty_window;
        if window.is_zero() {
            return if self.on { 1.0 } else { 0.0 };
        }
        self.on_time(now).as_secs_f64() / window.as_secs_f64()
    }

    fn window_start(&self, now: Time) -> Time {
        Time(
            now.0
                .saturating_sub(self.config.duty_window.as_micros() as u64),
        )
    }

    fn on_time(&self, now: Time) -> Duration {
        let start = self.window_start(now);
        self.periods
            .iter()
            .map(|&(from, to)| {
                let to = to.unwrap_or(now).min(now);
                to.saturating_since(from.max(start))
            })
            .sum()
    }

    fn duty_exhausted(&self, now: Time) -> bool {
        match self.config.max_duty {
            Some(max) => self.duty(now) >= max,
            None => false,
        }
    }

    /// Decides the heater state at `now` for `target` (°C) and the latest
    /// `sample`.
    pub fn update(&mut self, now: Time, target: Option<f64>, sample: Option<Sample>) -> Decision {
        self.update_held(now, target, sample, false)
    }

    /// [`Thermostat::update`], with the heater held off when `held_off`
    /// (an open window) as soon as the minimum on time allows.
    pub fn update_held(
        &mut self,
        now: Time,
        target: Option<f64>,
        sample: Option<Sample>,
        held_off: bool,
    ) -> Decision {
        let start = self.window_start(now);
        while let Some(&(_, Some(end))) = self.periods.front() {
            if end < start {
                self.periods.pop_front();
            } else {
                break;
            }
        }

        let stale_at = sample.map(|s| s.at + self.config.stale_after);
        let (mut want, mut reason) = match (target, sample) {
            (None, _) => (false, Reason::NoTarget),
            (_, None) => (false, Reason::NoReading),
            (Some(_), Some(s)) if now.saturating_since(s.at) > self.config.stale_after => {
                (false, Reason::StaleReading)
            }
            (Some(target), Some(s)) => {
                let half = self.config.hysteresis.max(0.0) / 2.0;
                if s.celsius < target - half {
                    (true, Reason::BelowBand)
                } else if s.celsius > target + half {
                    (false, Reason::AboveBand)
                } else {
                    (self.on, Reason::InBand)
                }
            }
        };
        if held_off && !reason.is_fail_safe() {
            want = false;
            reason = Reason::HeldOff;
        } else if want && self.duty_exhausted(now) {
            want = false;
            reason = Reason::DutyLimit;
        }

        let mut recheck_at = if reason.is_fail_safe() {
            None
        } else {
            stale_at
        };
        let changed = want != self.on;
        if changed {
            let hold = if self.on {
                self.config.min_on
            } else {
                self.config.min_off
            };
            let free_at = self.since + hold;
            if now < free_at && !reason.is_fail_safe() {
                reason = if self.on {
                    Reason::MinOnTime
                } else {
                    Reason::MinOffTime
                };
                recheck_at = Some(recheck_at.map_or(free_at, |t| t.min(free_at)));
                return Decision {
                    on: self.on,
                    changed: false,
                    reason,
                    recheck_at,
                };
            }
            self.on = want;
            self.since = now;
            if want {
                self.periods.push_back((now, None));
            } else if let Some(last) = self.periods.back_mut() {
                last.1 = Some(now);
            }
        }
        if self.on && self.config.max_duty.is_some() {
            // Wake when the duty budget would run out if the heater stays on.
            let budget =
                self.config.max_duty.unwrap_or(1.0) * self.config.duty_window.as_secs_f64();
            let left = (budget - self.on_time(now).as_secs_f64()).max(0.0);
            let at = now + Duration::from_secs_f64(left);
            recheck_at = Some(recheck_at.map_or(at, |t| t.min(at)));
        }
        Decision {
            on: self.on,
            changed,
            reason,
            recheck_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Time {
        Time::ZERO + Duration::from_secs(s)
    }

    fn sample(celsius: f64, at: Time) -> Option<Sample> {
        Some(Sample { celsius, at })
    }

    #[test]
    fn held_off_waits_for_min_on_and_then_stays_off() {
        let mut t = Thermostat::new(ThermostatConfig::default(), secs(0));
        let d = t.update(secs(120), Some(21.0), sample(18.0, secs(120)));
        assert!(d.on);
        let d = t.update_held(secs(150), Some(21.0), sample(17.0, secs(150)), true);
        assert_eq!((d.on, d.reason), (true, Reason::MinOnTime));
        let d = t.update_held(secs(240), Some(21.0), sample(17.0, secs(240)), true);
        assert_eq!((d.on, d.changed, d.reason), (false, true, Reason::HeldOff));
        let d = t.update_held(secs(900), Some(21.0), sample(16.0, secs(900)), true);
        assert_eq!((d.on, d.reason), (false, Reason::HeldOff));
    }

    #[test]
    fn heats_below_the_band_and_stops_above_it() {
        let mut t = Thermostat::new(ThermostatConfig::default(), secs(0));
        let d = t.update(secs(10), Some(21.0), sample(20.0, secs(10)));
        assert_eq!((d.on, d.reason), (false, Reason::MinOffTime));
        assert_eq!(d.recheck_at, Some(secs(120)));
        let d = t.update(secs(120), Some(21.0), sample(20.0, secs(120)));
        assert_eq!((d.on, d.changed, d.reason), (true, true, Reason::BelowBand));
        let d = t.update(secs(200), Some(21.0), sample(21.1, secs(200)));
        assert_eq!((d.on, d.reason), (true, Reason::InBand));
        let d = t.update(secs(230), Some(21.0), sample(21.3, secs(230)));
        assert_eq!((d.on, d.reason), (true, Reason::MinOnTime));
        let d = t.update(secs(240), Some(21.0), sample(21.3, secs(240)));
        assert_eq!(
            (d.on, d.changed, d.reason),
            (false, true, Reason::AboveBand)
        );
    }

    #[test]
    fn fail_safe_cuts_the_minimum_on_time() {
        let mut t = Thermostat::new(ThermostatConfig::default(), secs(0));
        assert!(t.update(secs(200), Some(21.0), sample(18.0, secs(200))).on);
        let d = t.update(secs(210), None, sample(18.0, secs(210)));
        assert_eq!((d.on, d.reason), (false, Reason::NoTarget));
        assert!(t.update(secs(400), Some(21.0), sample(18.0, secs(400))).on);
        let d = t.update(secs(521), Some(21.0), sample(18.0, secs(400)));
        assert_eq!((d.on, d.reason), (false, Reason::StaleReading));
    }

    #[test]
    fn duty_cycle_is_capped() {
        let config = ThermostatConfig {
            max_duty: Some(0.5),
            duty_window: Duration::from_secs(1000),
            min_on: Duration::ZERO,
            min_off: Duration::ZERO,
            ..ThermostatConfig::default()
        };
        let mut t = Thermostat::new(config, secs(0));
        let mut on_secs = 0;
        for s in 0..1000 {
            let d = t.update(secs(s), Some(30.0), sample(10.0, secs(s)));
            if d.on {
                on_secs += 1;
            }
        }
        assert!((495..=505).contains(&on_secs), "{on_secs}");
        assert!(t.duty(secs(1000)) <= 0.5 + 1e-9);
    }

    /// One step of a random drive: seconds since the last step, target,
    /// temperature, and whether the sample is fresh.
    fn steps() -> impl Strategy<Value = Vec<(u64, Option<f64>, f64, bool)>> {
        prop::collection::vec(
            (
                1u64..90,
                prop::option::weighted(0.9, 15.0f64..25.0),
                14.0f64..28.0,
                prop::bool::weighted(0.9),
            ),
            1..200,
        )
    }

    fn config() -> impl Strategy<Value = ThermostatConfig> {
        (
            0.0f64..2.0,
            0u64..600,
            0u64..600,
            prop::option::of(0.1f64..1.0),
            30u64..300,
        )
            .prop_map(|(hysteresis, on, off, max_duty, stale)| ThermostatConfig {
                hysteresis,
                min_on: Duration::from_secs(on),
                min_off: Duration::from_secs(off),
                max_duty,
                duty_window: Duration::from_secs(1800),
                stale_after: Duration::from_secs(stale),
            })
    }

    proptest! {
        #[test]
        fn never_toggles_faster_than_the_minimum_times(config in config(), steps in steps()) {
            let mut t = Thermostat::new(config, Time::ZERO);
            let mut now = Time::ZERO;
            let mut last_sample = None;
            let mut was_on = false;
            let mut since = Time::ZERO;
            for (dt, target, celsius, fresh) in steps {
                now += Duration::from_secs(dt);
                if fresh || last_sample.is_none() {
                    last_sample = Some(Sample { celsius, at: now });
                }
                let d = t.update(now, target, last_sample);
                if d.on != was_on {
                    prop_assert!(d.changed);
                    let held = now.saturating_since(since);
                    if was_on {
                        prop_assert!(held >= config.min_on || d.reason.is_fail_safe(),
                            "switched off after {:?} for {:?}", held, d.reason);
                    } else {
                        prop_assert!(held >= config.min_off, "switched on after {:?}", held);
                    }
                    since = now;
                    was_on = d.on;
                } else {
                    prop_assert!(!d.changed);
                }
            }
        }

        #[test]
        fn off_whenever_the_reading_is_stale_or_target_unknown(config in config(), steps in steps()) {
            let mut t = Thermostat::new(config, Time::ZERO);
            let mut now = Time::ZERO;
            let mut last_sample = None;
            for (dt, target, celsius, fresh) in steps {
                now += Duration::from_secs(dt);
                if fresh {
                    last_sample = Some(Sample { celsius, at: now });
                }
                let d = t.update(now, target, last_sample);
                let stale = last_sample.is_none_or(|s| now.saturating_since(s.at) > config.stale_after);
                if stale || target.is_none() {
                    prop_assert!(!d.on, "on with a stale reading or no target");
                    prop_assert!(d.reason.is_fail_safe());
                }
            }
        }

        #[test]
        fn constant_reading_below_the_band_turns_on_above_turns_off(
            config in config(),
            target in 15.0f64..25.0,
            offset in 0.01f64..5.0,
            start_on in any::<bool>(),
        ) {
            let config = ThermostatConfig { max_duty: None, ..config };
            let half = config.hysteresis / 2.0;
            let mut t = Thermostat::new(config, Time::ZERO);
            let mut now = Time::ZERO;
            if start_on {
                // Bring it on first, from far below.
                now += config.min_off;
                let first = Sample { celsius: target - half - 1.0, at: now };
                prop_assert!(t.update(now, Some(target), Some(first)).on);
            }
            let below = target - half - offset;
            let above = target + half + offset;
            for (celsius, expect) in [(below, true), (above, false), (below, true)] {
                let mut d = None;
                // Long enough for any minimum time to pass; samples stay fresh.
                for _ in 0..30 {
                    now += Duration::from_secs(30);
                    d = Some(t.update(now, Some(target), Some(Sample { celsius, at: now })));
                }
                prop_assert_eq!(d.map(|d| d.on), Some(expect));
            }
        }
    }
}
