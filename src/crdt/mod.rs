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
//! - [`OfficeState`]: nodes, sensors, actuators, targets and the heating
//!   program (schedules, presets, overrides); every mutation returns a
//!   [`Delta`] to broadcast.
//! - [`Schedule::check`], [`PresetValue::check`], [`OverrideValue::check`]:
//!   the bounds a heating write must meet ([`HeatingLimits`]).
//! - [`AntiEntropy`]: the sans-IO digest exchange between neighbours.

mod actuator_state;
pub mod anti_entropy;
mod causal_context;
mod codec;
mod delta;
mod dot;
mod heating_limits;
mod hlc;
mod key;
mod mv_register;
mod node_info;
mod office_state;
mod override_value;
mod preset;
mod quantity;
mod reading;
mod registers;
mod schedule;
pub mod signature;
mod target_value;
mod version_vector;
mod writer;

pub use actuator_state::{ActuatorOutput, ActuatorState};
pub use anti_entropy::AntiEntropy;
pub use causal_context::CausalContext;
pub use codec::CodecError;
pub use delta::Delta;
pub use dot::Dot;
pub use heating_limits::{
    CelsiusError, HeatingLimits, MAX_EXCEPTIONS, MAX_LABEL_LEN, MAX_OVERRIDE_MS, MAX_SLOTS,
    MAX_ZONE_LEN, ZoneError,
};
pub use hlc::{Hlc, Timestamp};
pub use key::{ActuatorId, ActuatorKey, ActuatorKind, Key, SensorId, SensorKey, TargetKey};
pub use mv_register::{MvRegister, Removal, Sibling};
pub use node_info::{FailedSensor, Interface, NodeInfo};
pub use office_state::{DEFAULT_TOMBSTONE_GRACE, OfficeState, Write};
pub use override_value::{OverrideError, OverrideValue};
pub use preset::{PresetError, PresetKey, PresetName, PresetValue, UnknownPreset};
pub use quantity::{Quantity, Unit};
pub use reading::Reading;
pub(crate) use registers::Registers;
pub use schedule::{
    CivilDate, Days, Exception, MINUTES_PER_DAY, Schedule, ScheduleError, Setpoint, Slot,
};
pub use signature::{PublicKey, SignatureError, WriteKey, WriteProof};
pub use target_value::TargetValue;
pub use version_vector::VersionVector;
pub use writer::{Writer, WrittenBefore};
