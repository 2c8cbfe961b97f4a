//! The parts of the `raktar` binary that its tests drive directly: opening the configured home
//! ([`home`]) and serving the router under AWS Lambda (`lambda`, with the `aws` feature). Everything
//! else of the binary (flags, settings, `serve` and the admin commands) lives in `main.rs` and its
//! own modules.

pub mod home;
#[cfg(feature = "aws")]
pub mod lambda;
