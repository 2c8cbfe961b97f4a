//! Shared test support (feature `testkit`): the driver conformance suites ([`item`], [`blob`],
//! [`scan`]), which `raktar-store` and `raktar-aws` run against their drivers; in-memory drivers
//! ([`memory`]) proven by the same suites, and an in-process registry over them ([`app`]) for fast
//! service-level tests; the one fixture builder ([`fixtures`]); and the structure-aware input
//! generators of the fuzz suites ([`fuzz`]); the readers of cargo and GraphQL error bodies
//! ([`wire`]).
pub mod app;
pub mod blob;
pub mod fixtures;
pub mod fuzz;
pub mod item;
pub mod memory;
pub mod scan;
pub mod wire;

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
