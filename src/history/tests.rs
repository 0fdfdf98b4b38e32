use super::*;

const MIN: i64 = 60_000;
/// Mon 30 Nov 2026 00:00 UTC.
const T0: i64 = 1_796_000_000_000 - 1_796_000_000_000 % (24 * 60 * MIN);

#[test]
fn downsamples_to_five_minute_points_with_on_time_and_cycles() {
    let mut h = ZoneHistory::new(Some(2.0));
    // 10 minutes: readings every 30 s at 20.0 then 20.4 °C, the heater
    // on from minute 2 to minute 7.
    for i in 0..20 {
        let at = T0 + i * 30_000;
        h.temperature(at, if i < 10 { 20.0 } else { 20.4 });
        let on = (4..14).contains(&i);
        h.heating(at, on, Some(21.0), Level::Schedule);
    }
    h.advance(T0 + 10 * MIN);
    let points: Vec<HistoryPoint> = h.points().copied().collect();
    assert_eq!(points.len(), 2, "{points:?}");
    assert_eq!(points[0].start_ms(), T0);
    assert_eq!(points[0].celsius(), Some(20.0));
    assert_eq!(points[1].celsius(), Some(20.4));
    assert_eq!(points[0].target(), Some(21.0));
    assert_eq!(points[0].level, level_code(Some(Level::Schedule)));
    assert_eq!(points[0].on_secs, 180, "on from 2:00 to 5:00");
    assert_eq!(points[1].on_secs, 120, "on from 5:00 to 7:00");
    assert_eq!((points[0].cycles, points[1].cycles), (1, 0));
    let answer = h.answer(T0 + 5 * MIN);
    assert_eq!(answer.power_w, Some(2000));
    assert_eq!(
        answer.points.len(),
        2,
        "the second closed point and the open one"
    );
}

#[test]
fn memory_is_bounded_to_seven_days() {
    let mut h = ZoneHistory::new(None);
    for i in 0..(8 * 24 * 12 + 5) {
        h.temperature(T0 + i * BUCKET_MS, 20.0);
    }
    assert_eq!(h.points().count(), KEPT_POINTS);
    let answer = h.answer(0);
    assert_eq!(answer.points.len(), MAX_HISTORY_POINTS);
    assert_eq!(
        answer.points.last().unwrap().start_ms(),
        T0 + (8 * 24 * 12 + 4) * BUCKET_MS,
        "the newest kept, the open bucket included"
    );
}

#[test]
fn a_clock_going_back_never_writes_points_out_of_order() {
    let mut h = ZoneHistory::new(None);
    h.temperature(T0 + 20 * MIN, 20.0);
    h.temperature(T0 + 2 * MIN, 19.0);
    h.temperature(T0 + 26 * MIN, 21.0);
    h.temperature(T0 + 31 * MIN, 21.0);
    let starts: Vec<i64> = h.points().map(|p| (p.start_ms() - T0) / MIN).collect();
    assert_eq!(starts, vec![20, 25]);
}

#[test]
fn unflushed_points_are_handed_out_once() {
    let mut h = ZoneHistory::new(None);
    for i in 0..4 {
        h.temperature(T0 + i * BUCKET_MS, 20.0);
    }
    assert_eq!(h.take_unflushed().len(), 3);
    assert!(h.take_unflushed().is_empty());
    h.temperature(T0 + 4 * BUCKET_MS, 20.0);
    assert_eq!(h.take_unflushed().len(), 1);
    let restored = ZoneHistory::restored(h.points().copied().collect(), None);
    assert_eq!(restored.points().count(), 4);
}

#[test]
fn usage_sums_today_the_week_and_energy() {
    let p = |min: i64, on: u16, cycles: u8| HistoryPoint {
        start_min: ((T0 + min * MIN) / MIN) as u32,
        on_secs: on,
        cycles,
        ..HistoryPoint::default()
    };
    // Yesterday 23:55, today 07:55 (before the last hour), 08:55.
    let points = [p(-5, 300, 1), p(7 * 60 + 55, 120, 1), p(8 * 60 + 55, 60, 2)];
    let u = HeaterUsage::from_points(&points, T0, T0 + 9 * 60 * MIN, Some(1500));
    assert_eq!(u.on_today_secs, 180);
    assert_eq!(u.on_week_secs, 480);
    assert_eq!(u.cycles_per_hour, 2.0);
    assert_eq!(u.kwh_today, Some(1.5 * 180.0 / 3600.0));
    assert!(
        HeaterUsage::from_points(&points, T0, T0, None)
            .kwh_week
            .is_none()
    );
}
