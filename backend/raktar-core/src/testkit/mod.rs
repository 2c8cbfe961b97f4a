//! Shared driver conformance suites and in-memory drivers for fast tests.
pub mod app;
pub mod blob;
pub mod fixtures;
pub mod fuzz;
pub mod item;
pub mod memory;
pub mod scan;

use std::sync::Arc;

use futures::future::BoxFuture;

/// One test of a suite over stores of type `S`.
type SuiteTest<S> = fn(Arc<S>) -> BoxFuture<'static, ()>;

/// Runs every test of a suite at once, each in its own task, against one shared store, and
/// panics naming the first test that failed.
async fn run_concurrently<S: ?Sized + Send + Sync + 'static>(store: &Arc<S>, tests: Vec<(&'static str, SuiteTest<S>)>) {
    let tasks: Vec<_> = tests.into_iter().map(|(name, test)| (name, tokio::spawn(test(Arc::clone(store))))).collect();
    for (name, task) in tasks {
        if let Err(e) = task.await {
            panic!("{name}: {e}");
        }
    }
}
