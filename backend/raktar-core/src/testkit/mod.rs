//! Shared driver conformance suites.
pub mod blob;
pub mod item;
