//! The flood baseline.
