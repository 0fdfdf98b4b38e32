//! A node's own recent past: its temperature, its zone's effective target
//! and its heater, downsampled to five-minute points and kept for seven
//! days in bounded memory, so an operator opening a zone sees the last
//! week and not only what arrived since the screen opened.
//!
//! [`ZoneHistory`] is sans-IO: the devices task feeds it what it measures
//! and decides, with the calendar time; the replica core answers an
//! observer's `HistoryRequest` from it ([`SharedHistory`]); [`HistoryFile`]
//! keeps the closed points on disk, appended at most every
//! [`FLUSH_EVERY`] so a Pi's SD card sees a few kilobytes a day.

mod file;
mod usage;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use self::file::{HistoryFile, HistoryFileError};
pub use self::usage::HeaterUsage;
pub use crate::wire::observer::{HistoryAnswer, HistoryPoint, MAX_HISTORY_POINTS, MAX_WHY_LEN};

use crate::control::Level;

/// The width of one point.
pub const BUCKET_MS: i64 = 5 * 60_000;
/// Points kept: seven days of [`BUCKET_MS`]. Memory is this many 12-byte
/// points, about 24 KB.
pub const KEPT_POINTS: usize = MAX_HISTORY_POINTS;
/// How often (real time, whatever the device clock's speed) closed points
/// are appended to the history file: the SD card's write budget.
pub const FLUSH_EVERY: Duration = Duration::from_secs(300);

/// The history shared between the devices task (which records) and the
/// replica core (which answers observers).
pub type SharedHistory = Arc<Mutex<ZoneHistory>>;

/// A node's history and where it is kept: what the devices task records
/// into and flushes.
#[derive(Debug, Clone)]
pub struct NodeHistory {
    pub shared: SharedHistory,
    /// `None` keeps the history in memory only (tests, a read-only disk).
    pub file: Option<HistoryFile>,
}

impl NodeHistory {
    /// The history kept in `data_dir`, restored from its file. A file that
    /// is unreadable or not a history is logged and replaced.
    pub fn open(data_dir: &std::path::Path) -> NodeHistory {
        let mut file = HistoryFile::in_dir(data_dir);
        let points = match file.load() {
            Ok(points) => points,
            Err(error) => {
                tracing::warn!(%error, "starting with an empty history");
                let _ = std::fs::remove_file(file.path());
                Vec::new()
            }
        };
        NodeHistory {
            shared: Arc::new(Mutex::new(ZoneHistory::restored(points, None))),
            file: Some(file),
        }
    }

    /// A history in memory only.
    pub fn in_memory() -> NodeHistory {
        NodeHistory {
            shared: Arc::new(Mutex::new(ZoneHistory::new(None))),
            file: None,
        }
    }

    /// Runs `f` on the history (a poisoned lock is still a history).
    pub fn with<T>(&self, f: impl FnOnce(&mut ZoneHistory) -> T) -> T {
        match self.shared.lock() {
            Ok(mut h) => f(&mut h),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Appends the points closed since the last flush to the file, off the
    /// event loop; the bytes this handle wrote so far.
    pub async fn flush(&mut self) -> u64 {
        let Some(mut file) = self.file.take() else {
            return 0;
        };
        let (fresh, all) =
            self.with(|h| (h.take_unflushed(), h.points().copied().collect::<Vec<_>>()));
        let (file, result) = match tokio::task::spawn_blocking(move || {
            let result = file.append(&fresh, || all);
            (file, result)
        })
        .await
        {
            Ok(done) => done,
            Err(_) => return 0,
        };
        if let Err(error) = result {
            tracing::warn!(%error, "history not written");
        }
        let written = file.bytes_written();
        self.file = Some(file);
        written
    }
}

/// The point being filled.
#[derive(Clone, Debug, PartialEq)]
struct OpenBucket {
    start_ms: i64,
    celsius_sum: f64,
    readings: u32,
    target: Option<f64>,
    level: Option<Level>,
    on_ms: i64,
    cycles: u32,
}

impl OpenBucket {
    fn new(start_ms: i64) -> OpenBucket {
        OpenBucket {
            start_ms,
            celsius_sum: 0.0,
            readings: 0,
            target: None,
            level: None,
            on_ms: 0,
            cycles: 0,
        }
    }

    fn point(&self) -> HistoryPoint {
        let centi = |c: f64| (c * 100.0).round().clamp(-32_767.0, 32_767.0) as i16;
        HistoryPoint {
            start_min: (self.start_ms.div_euclid(60_000)).clamp(0, i64::from(u32::MAX)) as u32,
            centi_celsius: if self.readings == 0 {
                HistoryPoint::NONE
            } else {
                centi(self.celsius_sum / f64::from(self.readings))
            },
            target_centi: self.target.map_or(HistoryPoint::NONE, centi),
            on_secs: (self.on_ms / 1000).clamp(0, i64::from(u16::MAX)) as u16,
            cycles: self.cycles.min(u32::from(u8::MAX)) as u8,
            level: level_code(self.level),
        }
    }
}

/// The wire's number for a level (see [`HistoryPoint::level`]).
pub fn level_code(level: Option<Level>) -> u8 {
    match level {
        None => 0,
        Some(Level::Safety) => 1,
        Some(Level::Override) => 2,
        Some(Level::Schedule) => 3,
        Some(Level::Target) => 4,
    }
}

/// The level a point's number stands for.
pub fn level_of(code: u8) -> Option<Level> {
    match code {
        1 => Some(Level::Safety),
        2 => Some(Level::Override),
        3 => Some(Level::Schedule),
        4 => Some(Level::Target),
        _ => None,
    }
}

/// Seven days of five-minute points and the one being filled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneHistory {
    points: VecDeque<HistoryPoint>,
    open: Option<OpenBucket>,
    /// The heater's state since this calendar time, once known.
    heater: Option<(i64, bool)>,
    /// Closed points not yet on disk (the newest ones).
    unflushed: usize,
    /// `[heating] power_kw` in watts.
    power_w: Option<u32>,
    /// Whether anything is recorded here at all (a node without a heater
    /// or a temperature keeps nothing).
    recording: bool,
    /// The last heating decision in words.
    why: String,
}

impl ZoneHistory {
    /// An empty history; `power_kw` is the heater's rated power.
    pub fn new(power_kw: Option<f64>) -> ZoneHistory {
        ZoneHistory {
            power_w: power_kw
                .filter(|p| p.is_finite() && *p > 0.0)
                .map(|p| (p * 1000.0).round().min(f64::from(u32::MAX)) as u32),
            ..ZoneHistory::default()
        }
    }

    /// A history restored from `points` (oldest first, as read from disk).
    pub fn restored(points: Vec<HistoryPoint>, power_kw: Option<f64>) -> ZoneHistory {
        let mut history = ZoneHistory::new(power_kw);
        for p in points {
            history.push_closed(p);
        }
        history.unflushed = 0;
        history
    }

    pub fn set_power_kw(&mut self, power_kw: Option<f64>) {
        self.power_w = ZoneHistory::new(power_kw).power_w;
    }

    /// A temperature of the zone's heating sensor, at `wall_ms`.
    pub fn temperature(&mut self, wall_ms: i64, celsius: f64) {
        if !celsius.is_finite() {
            return;
        }
        let bucket = self.roll(wall_ms);
        bucket.celsius_sum += celsius;
        bucket.readings += 1;
    }

    /// The heater's state and the effective target after a decision at
    /// `wall_ms`.
    pub fn heating(&mut self, wall_ms: i64, on: bool, target: Option<f64>, level: Level) {
        self.roll(wall_ms);
        let was_on = self.heater.is_some_and(|(_, on)| on);
        if on && !was_on {
            if let Some(b) = &mut self.open {
                b.cycles += 1;
            }
        }
        if self.heater.is_none_or(|(_, was)| was != on) {
            self.heater = Some((wall_ms, on));
        }
        if let Some(b) = &mut self.open {
            b.target = target;
            b.level = Some(level);
        }
    }

    /// The heating's latest decision in words, cut to [`MAX_WHY_LEN`].
    pub fn set_why(&mut self, why: &str) {
        if self.why != why {
            let mut end = why.len().min(MAX_WHY_LEN);
            while !why.is_char_boundary(end) {
                end -= 1;
            }
            self.why = why[..end].to_string();
        }
    }

    /// Closes the buckets that ended by `wall_ms` (a quiet period closes
    /// its buckets at the next input).
    pub fn advance(&mut self, wall_ms: i64) {
        if self.open.is_some() {
            self.roll(wall_ms);
        }
    }

    /// The bucket `wall_ms` falls in, closing the ones before it.
    fn roll(&mut self, wall_ms: i64) -> &mut OpenBucket {
        self.recording = true;
        let start = wall_ms - wall_ms.rem_euclid(BUCKET_MS);
        match &self.open {
            Some(b) if b.start_ms == start => {}
            Some(b) if b.start_ms > start => {
                // The clock went back: keep filling the newer bucket rather
                // than writing points out of order.
            }
            _ => {
                if let Some(mut closed) = self.open.take() {
                    let end = closed.start_ms + BUCKET_MS;
                    self.count_on_time(&mut closed, end);
                    self.push_closed(closed.point());
                    self.unflushed = (self.unflushed + 1).min(KEPT_POINTS);
                }
                let mut fresh = OpenBucket::new(start);
                // A switch's target and level hold until the next decision.
                if let Some(last) = self.points.back() {
                    fresh.target = last.target();
                    fresh.level = level_of(last.level);
                }
                self.open = Some(fresh);
            }
        }
        let mut bucket = self.open.take().unwrap_or_else(|| OpenBucket::new(start));
        let until = wall_ms.max(bucket.start_ms);
        self.count_on_time(&mut bucket, until);
        self.open.insert(bucket)
    }

    /// Adds the heater's on-time up to `until` to `bucket`.
    fn count_on_time(&mut self, bucket: &mut OpenBucket, until: i64) {
        if let Some((since, on)) = self.heater {
            let from = since.max(bucket.start_ms);
            if on && until > from {
                bucket.on_ms += until - from;
            }
            self.heater = Some((until.max(since), on));
        }
    }

    fn push_closed(&mut self, point: HistoryPoint) {
        if self
            .points
            .back()
            .is_some_and(|last| last.start_min >= point.start_min)
        {
            return;
        }
        if self.points.len() == KEPT_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    /// Every closed point, oldest first.
    pub fn points(&self) -> impl Iterator<Item = &HistoryPoint> {
        self.points.iter()
    }

    /// The answer to a request for points from `since_ms` on: the closed
    /// points and the open one, at most [`MAX_HISTORY_POINTS`], the newest
    /// kept when that cuts.
    pub fn answer(&self, since_ms: i64) -> HistoryAnswer {
        let mut points: Vec<HistoryPoint> = self
            .points
            .iter()
            .chain(self.open.as_ref().map(OpenBucket::point).as_ref())
            .filter(|p| p.start_ms() + BUCKET_MS > since_ms)
            .copied()
            .collect();
        if points.len() > MAX_HISTORY_POINTS {
            points.drain(..points.len() - MAX_HISTORY_POINTS);
        }
        HistoryAnswer {
            points,
            power_w: self.power_w,
            unavailable: !self.recording && self.points.is_empty(),
            why: self.why.clone(),
        }
    }

    /// The closed points not yet written, oldest first; they count as
    /// written once taken.
    pub fn take_unflushed(&mut self) -> Vec<HistoryPoint> {
        let n = self.unflushed.min(self.points.len());
        self.unflushed = 0;
        self.points
            .iter()
            .skip(self.points.len() - n)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests;
