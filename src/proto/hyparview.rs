//! HyParView membership (DSN 2007).

/// HyParView's knobs (defaults from the paper).
#[derive(Clone, Debug, Default)]
pub struct Config {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {}
