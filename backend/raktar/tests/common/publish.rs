//! Raw publish helpers: the one fixture builder of the workspace, `raktar_core::testkit::fixtures`.
#[allow(unused_imports)] // not every test binary uses them
pub use raktar_core::testkit::fixtures::*;
