//! Between an observer and the node it is attached to, never relayed
//! (DESIGN.md, "Membership and broadcast": observers attach to one node).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::node_id::NodeId;

/// Points one [`Message::History`] carries at most: seven days of
/// five-minute points, everything a node keeps. At most 16 bytes each in
/// postcard (a test checks the worst case), so the answer stays well under
/// the frame cap.
pub const MAX_HISTORY_POINTS: usize = 7 * 24 * 12;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Observer → node: a delta the observer made with its own replica id
    /// and dots. The node validates it, commits it to its store, then
    /// broadcasts it and answers `Stored` (or `Rejected`).
    Write { request: u64, delta: Bytes },
    /// Node → observer: the write is durable on that node.
    Stored { request: u64 },
    /// Node → observer: the write was refused and not applied.
    Rejected { request: u64, reason: String },
    /// An encoded `Payload::ClockReport`: from every node straight to the
    /// node observers watch through (a `Payload::Watch`'s `via`), and from
    /// that node on to its observers. Sent point to point rather than
    /// broadcast: with N nodes a write then costs N reports instead of N²
    /// deliveries, which on 50 nodes was most of a write's bytes and what
    /// slowed the next write down.
    ClockReport(Bytes),
    /// Node → observer: the write was admitted but this node could not
    /// make it durable (disk full, I/O error). It was already broadcast to
    /// `sent_to` neighbours, so it may still spread: this is not a refusal.
    NotStored {
        request: u64,
        reason: String,
        sent_to: u32,
    },
    /// Observer → node, and broadcast on to the node it names (inside a
    /// `Payload::HistoryRequest`): `node`'s downsampled history of its own
    /// readings, effective target and heater, points starting at or after
    /// `since_ms`. Answered once with [`Message::History`].
    HistoryRequest {
        request: u64,
        node: NodeId,
        since_ms: i64,
    },
    /// Node → the node the observer is attached to → that observer: the
    /// answer to a `HistoryRequest`, at most [`MAX_HISTORY_POINTS`] points,
    /// oldest first. `observer` says whom the attached node hands it to.
    History {
        request: u64,
        observer: NodeId,
        node: NodeId,
        answer: HistoryAnswer,
    },
    /// Node → observer: an encoded `Payload` (a `Delta`, or a `Refused`
    /// notice) this node has admitted and joined, by whatever route it
    /// came: a broadcast, an anti-entropy answer, a write whose author's
    /// key came later, its own or an observer's write. Only what passed
    /// the node's admission is passed on, so an observer never shows a
    /// write every node refuses (a forged signature, a target its writer
    /// may not set, a reading stamped hours ahead). A delta carries only
    /// the registers admitted.
    Admitted(Bytes),
}

/// What a node knows of its own recent past.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryAnswer {
    /// Oldest first; the newest may be the bucket still open.
    pub points: Vec<HistoryPoint>,
    /// `[heating] power_kw` in watts, for an energy estimate.
    pub power_w: Option<u32>,
    /// The node has no heater and no temperature sensor: nothing is kept.
    pub unavailable: bool,
    /// The node's current heating decision in words, at most
    /// [`MAX_WHY_LEN`] bytes: "on: 0.6 °C below 21.0 (schedule …)".
    pub why: String,
}

/// The longest decision text a history answer carries.
pub const MAX_WHY_LEN: usize = 200;

/// Five minutes of a node's life, in 16 bytes or less.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Start of the bucket, minutes since the Unix epoch.
    pub start_min: u32,
    /// Mean temperature in hundredths of °C; [`HistoryPoint::NONE`] when
    /// nothing was read.
    pub centi_celsius: i16,
    /// The effective target at the end of the bucket, hundredths of °C;
    /// [`HistoryPoint::NONE`] when off or unknown.
    pub target_centi: i16,
    /// Seconds the heater was on in the bucket.
    pub on_secs: u16,
    /// Times the heater switched on in the bucket.
    pub cycles: u8,
    /// Which level set the target: 0 unknown, 1 safety, 2 override,
    /// 3 schedule, 4 target.
    pub level: u8,
}

impl HistoryPoint {
    /// "No value" in the hundredths-of-°C fields.
    pub const NONE: i16 = i16::MIN;

    pub fn celsius(&self) -> Option<f64> {
        (self.centi_celsius != Self::NONE).then(|| f64::from(self.centi_celsius) / 100.0)
    }

    pub fn target(&self) -> Option<f64> {
        (self.target_centi != Self::NONE).then(|| f64::from(self.target_centi) / 100.0)
    }

    /// The bucket's start, Unix ms.
    pub fn start_ms(&self) -> i64 {
        i64::from(self.start_min) * 60_000
    }
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Write { .. } => "write",
            Message::Stored { .. } => "stored",
            Message::Rejected { .. } => "rejected",
            Message::ClockReport(_) => "clock_report",
            Message::NotStored { .. } => "not_stored",
            Message::HistoryRequest { .. } => "history_request",
            Message::History { .. } => "history",
            Message::Admitted(_) => "admitted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full answer of worst-case points fits one frame.
    #[test]
    fn a_full_history_answer_fits_a_frame() {
        let point = HistoryPoint {
            start_min: u32::MAX,
            centi_celsius: i16::MIN,
            target_centi: i16::MIN,
            on_secs: u16::MAX,
            cycles: u8::MAX,
            level: u8::MAX,
        };
        assert!(postcard::to_stdvec(&point).unwrap().len() <= 16);
        let msg = crate::wire::Message::Observer(Message::History {
            request: u64::MAX,
            observer: NodeId(u64::MAX),
            node: NodeId(u64::MAX),
            answer: HistoryAnswer {
                points: vec![point; MAX_HISTORY_POINTS],
                power_w: Some(u32::MAX),
                unavailable: false,
                why: "x".repeat(MAX_WHY_LEN),
            },
        });
        let bytes = crate::wire::encode_message(&msg).unwrap();
        assert!(
            bytes.len() <= crate::wire::MAX_FRAME_LEN,
            "{} bytes",
            bytes.len()
        );
    }
}
