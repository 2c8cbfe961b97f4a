//! Single flight: concurrent requests for the same upstream file in one process take turns, so
//! the first fetches and stores it and the others find it cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Keys in flight, each with the lock its requests take turns on.
#[derive(Default)]
pub(crate) struct SingleFlight {
    inflight: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// A turn on one key; the key is forgotten when the last request for it is done.
pub(crate) struct Turn<'a> {
    flights: &'a SingleFlight,
    key: String,
    lock: Option<Arc<AsyncMutex<()>>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SingleFlight {
    /// Waits for this key's turn.
    pub(crate) async fn turn(&self, key: String) -> Turn<'_> {
        let lock = {
            let mut map = self.inflight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Turn { flights: self, key, lock: Some(lock), guard: Some(guard) }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or_default()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let Some(lock) = self.lock.take() else { return };
        let mut map = self.flights.inflight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's reference and this one: nobody else waits for the key.
        if Arc::strong_count(&lock) == 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::SingleFlight;

    #[tokio::test]
    async fn one_at_a_time_per_key_and_forgotten_after() {
        let flights = Arc::new(SingleFlight::default());
        let busy = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (flights, busy, max) = (flights.clone(), busy.clone(), max.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = flights.turn("k".to_owned()).await;
                let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                busy.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap_or_default();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0);
        // Different keys do not wait for each other.
        let _a = flights.turn("a".to_owned()).await;
        let b = tokio::time::timeout(Duration::from_secs(1), flights.turn("b".to_owned())).await;
        assert!(b.is_ok());
    }
}
