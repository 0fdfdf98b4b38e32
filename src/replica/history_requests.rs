//! An observer's request for a node's history, and its answer: answered
//! here when the observer asks for this node, otherwise broadcast so that
//! node answers straight back to this one, which hands the answer on.
//!
//! A history is not office state: it is never joined, stored or relayed
//! beyond the one observer that asked. The broadcasts an observer can
//! cause are bounded ([`MAX_HISTORY_BROADCASTS`] per
//! [`HISTORY_BROADCAST_WINDOW`]), so a runaway screen cannot flood the mesh.

use std::time::Duration;

use super::Replica;
use crate::history::SharedHistory;
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::observer::{HistoryAnswer, Message as ObserverMessage};
use crate::wire::payload::Payload;
use crate::wire::{Message, PeerInfo};

/// History requests this node broadcasts for its observers per window: an
/// operator opens a zone now and then; a screen refreshing every zone
/// each minute stays far under it.
pub const MAX_HISTORY_BROADCASTS: u32 = 30;
/// The window [`MAX_HISTORY_BROADCASTS`] counts over.
pub const HISTORY_BROADCAST_WINDOW: Duration = Duration::from_secs(60);

/// How many requests were broadcast in the current window.
#[derive(Debug, Default)]
pub struct HistoryBudget {
    window_start: Option<Time>,
    used: u32,
}

impl HistoryBudget {
    /// Takes one broadcast from the budget; false when it is spent.
    fn take(&mut self, now: Time) -> bool {
        let fresh = self
            .window_start
            .is_none_or(|start| now.saturating_since(start) >= HISTORY_BROADCAST_WINDOW);
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used >= MAX_HISTORY_BROADCASTS {
            return false;
        }
        self.used += 1;
        true
    }
}

/// This node's answer from `history` (nothing kept without one).
pub fn answer(history: Option<&SharedHistory>, since_ms: i64) -> HistoryAnswer {
    match history {
        Some(h) => match h.lock() {
            Ok(h) => h.answer(since_ms),
            Err(poisoned) => poisoned.into_inner().answer(since_ms),
        },
        None => HistoryAnswer {
            unavailable: true,
            ..HistoryAnswer::default()
        },
    }
}

impl Replica {
    /// Where this node's own history is kept, for answering observers.
    pub fn set_history(&mut self, history: SharedHistory) {
        self.history = Some(history);
    }

    /// An attached observer asks for `node`'s history.
    pub(super) fn history_request(
        &mut self,
        observer: NodeId,
        request: u64,
        node: NodeId,
        since_ms: i64,
    ) {
        if node == self.id() {
            let answer = answer(self.history.as_ref(), since_ms);
            let msg = ObserverMessage::History {
                request,
                observer,
                node,
                answer,
            };
            self.send(observer, Message::Observer(msg));
            return;
        }
        if !self.history_budget.take(self.now) {
            tracing::debug!(%observer, %node, "history request dropped: too many this minute");
            return;
        }
        self.broadcast(&Payload::HistoryRequest {
            via: self.config.me,
            observer,
            request,
            node,
            since_ms,
        });
    }

    /// A broadcast request reached this node: answer it if it names us.
    pub(super) fn history_request_delivered(
        &mut self,
        via: PeerInfo,
        observer: NodeId,
        request: u64,
        node: NodeId,
        since_ms: i64,
    ) {
        if node != self.id() {
            return;
        }
        let msg = Message::Observer(ObserverMessage::History {
            request,
            observer,
            node,
            answer: answer(self.history.as_ref(), since_ms),
        });
        if via.id == self.id() {
            self.send(observer, msg);
        } else {
            self.send_or_dial(via, msg);
        }
    }

    /// A node's answer for one of the observers attached here: passed on
    /// only when `from`, the link's proven peer, is the node it speaks
    /// for, so no node can show another's past.
    pub(super) fn history_answer(
        &mut self,
        from: NodeId,
        node: NodeId,
        observer: NodeId,
        msg: Message,
    ) {
        if from != node {
            tracing::debug!(%from, %node, "a history answer for another node; dropped");
            return;
        }
        if self.links.observers().contains(&observer) {
            self.send(observer, msg);
        } else {
            tracing::debug!(%observer, "a history answer for an observer not attached here");
        }
    }
}
