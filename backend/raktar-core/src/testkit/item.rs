//! Item-store conformance suite.
