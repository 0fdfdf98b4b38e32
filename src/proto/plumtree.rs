//! Plumtree broadcast (SRDS 2007).

/// Plumtree's knobs.
#[derive(Clone, Debug, Default)]
pub struct Config {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {}
