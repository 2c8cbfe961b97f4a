//! Storage drivers.
