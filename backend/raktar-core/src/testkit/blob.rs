//! Blob-store conformance suite.
