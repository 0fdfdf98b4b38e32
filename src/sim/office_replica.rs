//! The office state of one simulated replica: what survives a crash (the
//! state and the writer, which the runtime keeps in its crash-safe store)
//! and what does not (the anti-entropy machine).

use crate::crdt::anti_entropy::{self, AntiEntropy};
use crate::crdt::{OfficeState, Writer};
use crate::node_id::NodeId;

pub struct OfficeReplica {
    /// Durable: every write and join is stored before it is acknowledged.
    pub state: OfficeState,
    /// Durable with the state: the dot counter and the clock.
    pub writer: Writer,
    /// In memory only: gone with the process.
    pub(crate) anti_entropy: Option<AntiEntropy>,
    /// Anti-entropy bytes sent by earlier lives of this replica.
    earlier_bytes: u64,
}

impl OfficeReplica {
    pub fn new(id: NodeId) -> Self {
        OfficeReplica {
            state: OfficeState::new(),
            writer: Writer::new(id),
            anti_entropy: None,
            earlier_bytes: 0,
        }
    }

    /// The process (re)starts: the writer resumes from the durable state.
    pub(crate) fn start(&mut self, config: anti_entropy::Config, seed: u64) {
        let w = &self.writer;
        self.writer = Writer::resume(w.id(), w.last_counter(), w.hlc(), &self.state);
        self.anti_entropy = Some(AntiEntropy::new(config, seed));
    }

    /// The process dies.
    pub(crate) fn stop(&mut self) {
        if let Some(ae) = self.anti_entropy.take() {
            self.earlier_bytes += ae.stats().bytes_sent;
        }
    }

    /// Anti-entropy bytes sent over every life.
    pub fn anti_entropy_bytes(&self) -> u64 {
        self.earlier_bytes
            + self
                .anti_entropy
                .as_ref()
                .map_or(0, |ae| ae.stats().bytes_sent)
    }
}
