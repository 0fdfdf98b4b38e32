//! The value under a `Target(zone, quantity)` key.

use serde::{Deserialize, Serialize};

use super::quantity::Unit;

/// A set-point. *Set-by* is the writing replica (the sibling's dot) plus a
/// human label carried here; *set-at* is the sibling's timestamp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetValue {
    pub value: f32,
    pub unit: Unit,
    /// Who set it, for people: "alice@pi-3". Keep it short.
    pub set_by: String,
}
