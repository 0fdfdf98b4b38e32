//! A simulated room: the thermal model behind the demo's sensors and relays.
//!
//! First-order model: the room loses heat to the outside with time constant
//! τ and the heater adds a constant power, so
//! `dT/dt = (T_out − T)/τ + heater · G/τ`, where `G` is how far above the
//! outside temperature the room would settle with the heater always on.
//! For a heater state that is constant between two instants the solution is
//! exact, `T(t+Δ) = T_eq + (T − T_eq)·e^(−Δ/τ)`, and an open window adds a
//! second, fast path to the outside (time constant τ_w), which is what the
//! open-window detector is tested against; so the result does not
//! depend on how often the caller steps it. The caller passes the time
//! (virtual in tests and the demo) and the noise comes from a seeded RNG,
//! so a run is reproducible.
//!
//! A room is a plain struct; the sensor and relay that share it hold a
//! [`SharedRoom`]. The demo runs one room per zone in the same process.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::time::Time;

/// The parameters of a simulated room (`[simulated_room]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedRoomConfig {
    /// Room temperature at start, °C. Default 15.
    #[serde(default = "default_initial")]
    pub initial: f64,
    /// Outside temperature the room relaxes toward, °C. Default 5.
    #[serde(default = "default_outside")]
    pub outside: f64,
    /// Thermal time constant τ in seconds: how slowly the room follows the
    /// outside. Default 10800 (3 h, a modest office).
    #[serde(default = "default_time_constant")]
    pub time_constant: u64,
    /// Rise above outside, °C, at which the room settles with the heater
    /// always on. Default 45 (a radiator sized to heat up within half an hour).
    #[serde(default = "default_heater_gain")]
    pub heater_gain: f64,
    /// Standard deviation of the sensor noise, °C. Default 0.05.
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// Seed of the noise. Default 0; the demo gives each room its own.
    #[serde(default)]
    pub seed: u64,
    /// Time constant in seconds of the heat lost through an open window.
    /// Default 900: a window wide open in winter cools an office by a
    /// degree in a few minutes.
    #[serde(default = "default_window_time_constant")]
    pub window_time_constant: u64,
}

fn default_window_time_constant() -> u64 {
    900
}

fn default_initial() -> f64 {
    15.0
}
fn default_outside() -> f64 {
    5.0
}
fn default_time_constant() -> u64 {
    10_800
}
fn default_heater_gain() -> f64 {
    45.0
}
fn default_noise() -> f64 {
    0.05
}

impl Default for SimulatedRoomConfig {
    fn default() -> Self {
        SimulatedRoomConfig {
            initial: default_initial(),
            outside: default_outside(),
            time_constant: default_time_constant(),
            heater_gain: default_heater_gain(),
            noise: default_noise(),
            seed: 0,
            window_time_constant: default_window_time_constant(),
        }
    }
}

/// The state of one simulated room.
#[derive(Debug, Clone)]
pub struct SimulatedRoom {
    config: SimulatedRoomConfig,
    temperature: f64,
    heater_on: bool,
    window_open: bool,
    at: Time,
    started: Time,
    heated_for: Duration,
    rng: ChaCha8Rng,
}

/// A room shared by the simulated sensor and relay of one node.
pub type SharedRoom = Arc<Mutex<SimulatedRoom>>;

/// Locks a shared room; a panic elsewhere while holding the lock leaves the
/// model in a consistent state (every update is a single assignment), so a
/// poisoned lock is simply taken over.
pub fn lock(room: &SharedRoom) -> MutexGuard<'_, SimulatedRoom> {
    room.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimulatedRoom {
    pub fn new(config: SimulatedRoomConfig, start: Time) -> SimulatedRoom {
        SimulatedRoom {
            temperature: config.initial,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            heater_on: false,
            window_open: false,
            at: start,
            started: start,
            heated_for: Duration::ZERO,
        }
    }

    pub fn shared(self) -> SharedRoom {
        Arc::new(Mutex::new(self))
    }

    /// Integrates the model up to `now`; earlier times are ignored.
    pub fn advance_to(&mut self, now: Time) {
        if now <= self.at {
            return;
        }
        let dt = (now - self.at).as_secs_f64();
        let walls = self.config.time_constant.max(1) as f64;
        // Losses through the walls and an open window add up as rates.
        let tau = if self.window_open {
            let window = self.config.window_time_constant.max(1) as f64;
            1.0 / (1.0 / walls + 1.0 / window)
        } else {
            walls
        };
        let equilibrium = self.config.outside
            + if self.heater_on {
                self.config.heater_gain * tau / walls
            } else {
                0.0
            };
        self.temperature = equilibrium + (self.temperature - equilibrium) * (-dt / tau).exp();
        if self.heater_on {
            self.heated_for += now - self.at;
        }
        self.at = now;
    }

    /// Switches the heater at `now` (after integrating up to it).
    pub fn set_heater(&mut self, now: Time, on: bool) {
        self.advance_to(now);
        self.heater_on = on;
    }

    pub fn heater_on(&self) -> bool {
        self.heater_on
    }

    /// Opens or closes the window at `now`.
    pub fn set_window_open(&mut self, now: Time, open: bool) {
        self.advance_to(now);
        self.window_open = open;
    }

    pub fn window_open(&self) -> bool {
        self.window_open
    }

    /// Changes the weather at `now`.
    pub fn set_outside(&mut self, now: Time, celsius: f64) {
        self.advance_to(now);
        self.config.outside = celsius;
    }

    /// The true room temperature at the last integrated instant.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// What a thermometer shows at `now`: the temperature plus Gaussian noise.
    pub fn measure(&mut self, now: Time) -> f64 {
        self.advance_to(now);
        self.temperature + self.config.noise * self.standard_normal()
    }

    /// Fraction of the time since start that the heater was on.
    pub fn heating_duty(&self) -> f64 {
        let total = (self.at - self.started).as_secs_f64();
        if total > 0.0 {
            self.heated_for.as_secs_f64() / total
        } else {
            0.0
        }
    }

    /// Box–Muller transform of two uniform draws.
    fn standard_normal(&mut self) -> f64 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> SimulatedRoomConfig {
        SimulatedRoomConfig {
            noise: 0.0,
            ..SimulatedRoomConfig::default()
        }
    }

    #[test]
    fn relaxes_toward_outside_with_the_time_constant() {
        let cfg = quiet();
        let mut room = SimulatedRoom::new(cfg.clone(), Time::ZERO);
        room.advance_to(Time::ZERO + Duration::from_secs(cfg.time_constant));
        // After one τ, 1/e of the gap remains.
        let expect = cfg.outside + (cfg.initial - cfg.outside) * (-1.0f64).exp();
        assert!((room.temperature() - expect).abs() < 1e-9);
    }

    #[test]
    fn result_does_not_depend_on_step_size() {
        let mut coarse = SimulatedRoom::new(quiet(), Time::ZERO);
        let mut fine = SimulatedRoom::new(quiet(), Time::ZERO);
        coarse.set_heater(Time::ZERO, true);
        fine.set_heater(Time::ZERO, true);
        coarse.advance_to(Time::ZERO + Duration::from_secs(3600));
        for s in 1..=3600 {
            fine.advance_to(Time::ZERO + Duration::from_secs(s));
        }
        assert!((coarse.temperature() - fine.temperature()).abs() < 1e-9);
        assert!(coarse.temperature() > 15.0);
        assert!((coarse.heating_duty() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn noise_is_seeded() {
        let cfg = SimulatedRoomConfig::default();
        let mut a = SimulatedRoom::new(cfg.clone(), Time::ZERO);
        let mut b = SimulatedRoom::new(cfg, Time::ZERO);
        let t = Time::from_millis(1000);
        assert_eq!(a.measure(t), b.measure(t));
        assert_ne!(a.measure(t), a.temperature());
    }
}
