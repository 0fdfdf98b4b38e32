//! The office state: delta-state CRDTs with version vectors, and the
//! anti-entropy that repairs what broadcasts missed.
//!
//! Pure and deterministic like `proto`: no clock (wall time and protocol
//! time are passed in), no sockets, no global randomness, `BTreeMap`s
//! wherever order reaches an encoding. See DESIGN.md, "Office state".
//!
//! - [`Dot`], [`VersionVector`], [`CausalContext`]: which writes a replica has seen.
//! - [`MvRegister`]: one key's values, siblings when written concurrently.
//! - [`Hlc`]: set-at times that never go backwards; [`Writer`]: the local
//!   replica's dot counter and clock.
//! - [`OfficeState`]: nodes, sensors, actuators and targets; every mutation
//!   returns a [`Delta`] to broadcast.
//! - [`AntiEntropy`]: the sans-IO digest exchange between neighbours.

mod actuator_state;
pub mod anti_entropy;
mod causal_context;
mod codec;
mod delta;
mod dot;
mod hlc;
mod key;
mod mv_register;
mod node_info;
mod office_state;
mod quantity;
mod reading;
mod registers;
mod target_value;
mod version_vector;
mod writer;

pub use actuator_state::{ActuatorOutput, ActuatorState};
pub use anti_entropy::AntiEntropy;
pub use causal_context::CausalContext;
pub use codec::CodecError;
pub use delta::Delta;
pub use dot::Dot;
pub use hlc::{Hlc, Timestamp};
pub use key::{ActuatorId, ActuatorKey, ActuatorKind, Key, SensorId, SensorKey, TargetKey};
pub use mv_register::{MvRegister, Sibling};
pub use node_info::{FailedSensor, Interface, NodeInfo};
pub use office_state::{DEFAULT_TOMBSTONE_GRACE, OfficeState, Write};
pub use quantity::{Quantity, Unit};
pub use reading::Reading;
pub use target_value::TargetValue;
pub use version_vector::VersionVector;
pub use writer::Writer;
