//! Evaluating conditions and applying updates to items (DynamoDB's semantics): the shared evaluator
//! of `raktar-core` ([`raktar_core::store::eval`]), which the testkit's in-memory store uses too.

pub(super) use raktar_core::store::eval::{apply_update, condition_failed_unless, holds};
