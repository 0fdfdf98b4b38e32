//! Closed loop on virtual time: simulated rooms, their thermometers, their
//! heaters and one thermostat per zone, driven exactly as a node drives them
//! (sample every `interval`, decide on every sample and every recheck).

use std::time::Duration;

use officemesh::Time;
use officemesh::control::{HeatingConfig, Relay, RelayKind, Sample, SimulatedRelay, Thermostat};
use officemesh::sensors::{
    Sensor, SensorConfig, SensorKind, SharedRoom, SimulatedRoom, SimulatedRoomConfig,
    SimulatedSensor, lock_room,
};

struct Zone {
    room: SharedRoom,
    sensor: SimulatedSensor,
    relay: SimulatedRelay,
    thermostat: Thermostat,
    last: Option<Sample>,
}

const ZONES: usize = 5;
const STEP: Duration = Duration::from_secs(5);

fn office() -> Vec<Zone> {
    let heating = HeatingConfig::new(RelayKind::Simulated);
    (0..ZONES)
        .map(|i| {
            let room = SimulatedRoom::new(
                SimulatedRoomConfig {
                    initial: 15.0,
                    // Rooms differ: some face north, some lose heat faster.
                    outside: 3.0 + i as f64,
                    time_constant: 9_000 + 900 * i as u64,
                    seed: i as u64,
                    ..SimulatedRoomConfig::default()
                },
                Time::ZERO,
            )
            .shared();
            Zone {
                sensor: SimulatedSensor::new("thermometer", room.clone()),
                relay: SimulatedRelay::new(room.clone()),
                thermostat: Thermostat::new(heating.thermostat(), Time::ZERO),
                last: None,
                room,
            }
        })
        .collect()
}

/// Runs `zones` from `from` for `span` toward `target`, returning, per zone,
/// the true temperatures seen in the last `tail` of the run.
fn run(
    zones: &mut [Zone],
    from: Time,
    span: Duration,
    target: f64,
    tail: Duration,
) -> Vec<Vec<f64>> {
    let interval = SensorConfig::new(SensorKind::Simulated, "thermometer").interval();
    let mut seen = vec![Vec::new(); zones.len()];
    let mut now = from;
    let end = from + span;
    let mut next_sample = from;
    while now < end {
        now += STEP;
        let sample_now = now >= next_sample;
        if sample_now {
            next_sample = now + interval;
        }
        for (zone, seen) in zones.iter_mut().zip(&mut seen) {
            if sample_now {
                let readings = zone.sensor.read(now).expect("simulated sensor reads");
                zone.last = readings.iter().find_map(Sample::from_reading);
            }
            let decision = zone.thermostat.update(now, Some(target), zone.last);
            if decision.changed {
                zone.relay
                    .set(now, decision.on)
                    .expect("simulated relay switches");
            }
            let mut room = lock_room(&zone.room);
            room.advance_to(now);
            if now + tail >= end {
                seen.push(room.temperature());
            }
        }
    }
    seen
}

fn assert_settled(seen: &[Vec<f64>], target: f64) {
    for (i, temps) in seen.iter().enumerate() {
        let (lo, hi) = temps
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        assert!(!temps.is_empty());
        assert!(
            lo >= target - 0.5 && hi <= target + 0.5,
            "zone {i}: {lo:.2}..{hi:.2} °C, target {target}"
        );
    }
}

#[test]
fn every_zone_settles_at_its_target_within_the_hour() {
    let mut zones = office();
    let hour = Duration::from_secs(3600);
    // From 15 °C: every zone is within ±0.5 °C of 21 °C for the whole last
    // quarter of the first simulated hour.
    let seen = run(&mut zones, Time::ZERO, hour, 21.0, Duration::from_secs(900));
    assert_settled(&seen, 21.0);
    for (i, zone) in zones.iter().enumerate() {
        let room = lock_room(&zone.room);
        let duty = room.heating_duty();
        eprintln!(
            "zone {i}: {:.2} °C after 1 h, heating duty {:.2}",
            room.temperature(),
            duty
        );
        assert!(duty > 0.0 && duty < 1.0, "duty {duty}");
    }
}

#[test]
fn a_target_change_moves_the_rooms() {
    let mut zones = office();
    let hour = Duration::from_secs(3600);
    let t1 = Time::ZERO + hour;
    run(&mut zones, Time::ZERO, hour, 21.0, Duration::ZERO);
    let up = run(&mut zones, t1, hour, 23.0, Duration::from_secs(900));
    assert_settled(&up, 23.0);
    // Heaters only heat: a room cools no faster than its losses allow
    // (23 → 19 °C takes the slowest room ~52 min), so the step down is 3 °C.
    let down = run(&mut zones, t1 + hour, hour, 20.0, Duration::from_secs(600));
    assert_settled(&down, 20.0);
}

#[test]
fn a_dead_thermometer_turns_the_heaters_off() {
    let mut zones = office();
    let hour = Duration::from_secs(3600);
    run(&mut zones, Time::ZERO, hour, 21.0, Duration::ZERO);
    // No more samples: within `stale_after` every heater is off and stays off.
    let stale_after = HeatingConfig::new(RelayKind::Simulated)
        .thermostat()
        .stale_after;
    let mut now = Time::ZERO + hour;
    let end = now + stale_after + Duration::from_secs(60);
    while now < end {
        now += STEP;
        for zone in &mut zones {
            let d = zone.thermostat.update(now, Some(21.0), zone.last);
            if d.changed {
                zone.relay.set(now, d.on).unwrap();
            }
        }
    }
    assert!(zones.iter().all(|z| !z.relay.is_on()));
}
