//! Attempt limits as fixed-window counters in the item store, so they hold across processes and
//! Lambda instances: one item per subject and window, incremented with an atomic `ADD` and removed
//! by the `ttl` attribute once the window is over.
//!
//! Every attempt is counted *before* the work it guards (an atomic add cannot be raced past, unlike
//! "read, check, then count failures"); a successful attempt is refunded.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::{DomainError, DomainResult};
use crate::model::keys;
use crate::store::{Condition, Key, Update};

use super::{Registry, clock};

/// At most `max_attempts` per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_attempts: u32,
    pub window_secs: i64,
}

/// A counted attempt; refund it when the attempt succeeded.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    key: Key,
}

/// Human-readable wait ("about 3 minutes").
fn describe_wait(secs: i64) -> String {
    let d = Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1));
    let mins = d.as_secs().div_ceil(60);
    if d.as_secs() == 1 {
        "a second".to_owned()
    } else if d.as_secs() < 60 {
        format!("{} seconds", d.as_secs())
    } else if mins == 1 {
        "a minute".to_owned()
    } else {
        format!("{mins} minutes")
    }
}

impl Registry {
    /// Counts one attempt of `subject` under `scope`. `Err(RateLimited)` when the window already
    /// holds `max_attempts`; `what` names the subject in the message ("this account").
    pub(crate) async fn count_attempt(
        &self,
        scope: &str,
        subject: &str,
        limit: RateLimit,
        what: &str,
    ) -> DomainResult<Attempt> {
        let (attempt, count, wait) = self.add_attempt(scope, subject, limit.window_secs).await?;
        if count > i64::from(limit.max_attempts) {
            tracing::warn!(scope, "sign-in attempts rate limited");
            return Err(DomainError::RateLimited(format!(
                "too many sign-in attempts for {what}; try again in {}",
                describe_wait(wait)
            )));
        }
        Ok(attempt)
    }

    /// Adds one attempt of `subject` under `scope` to the current window of `window_secs`; returns
    /// it, the window's count including it, and the seconds until the window ends.
    pub(crate) async fn add_attempt(
        &self,
        scope: &str,
        subject: &str,
        window_secs: i64,
    ) -> DomainResult<(Attempt, i64, i64)> {
        let window = window_secs.max(1);
        let now = clock::unix_now();
        let start = now - now.rem_euclid(window);
        let subject_hash = hex::encode(&Sha256::digest(subject.as_bytes())[..16]);
        let key = keys::rate_limit(scope, &subject_hash, start);
        let update = Update::new()
            .add("count", 1)
            .set_if_absent(keys::TTL_ATTR, start + window)
            .set_if_absent(crate::store::item::TYPE, keys::types::RATE_LIMIT);
        let item = self.items.update(&key, update, None).await?;
        let count = item.get_i64("count").unwrap_or(i64::MAX);
        Ok((Attempt { key }, count, start + window - now))
    }

    /// Gives back an attempt that succeeded (best effort).
    pub(crate) async fn refund_attempt(&self, attempt: &Attempt) {
        let update = Update::new().add("count", -1);
        if let Err(e) = self.items.update(&attempt.key, update, Some(Condition::Exists)).await
            && !e.is_condition_failure()
        {
            tracing::warn!(error = %e, "could not refund a sign-in attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_read_well() {
        assert_eq!(super::describe_wait(5), "5 seconds");
        assert_eq!(super::describe_wait(60), "a minute");
        assert_eq!(super::describe_wait(61), "2 minutes");
        assert_eq!(super::describe_wait(-3), "a second");
    }
}
