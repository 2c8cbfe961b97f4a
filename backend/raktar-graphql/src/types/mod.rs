//! Output, input and scalar types of the contract.

pub mod audit;
pub mod krate;
pub mod scalars;
pub mod token;
pub mod user;
pub mod version;
