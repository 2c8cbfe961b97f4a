//! Optimistic writes: read, decide, write conditionally, and on a lost race read again. One helper
//! for every such loop (publish, yank, owners, passwords, user administration, single sign-on), so
//! the attempt count and the waits between attempts are the same everywhere:
//!
//! ```ignore
//! let mut attempts = Attempts::new(MAX_ATTEMPTS);
//! while let Some(attempt) = attempts.next().await {
//!     // read, decide, `continue` on a lost race, `return` when done
//! }
//! Err(DomainError::conflict("... is being changed concurrently; please retry"))
//! ```
//!
//! (A loop rather than a closure-taking function: the futures of async closures that borrow the
//! caller's state are not `Send` in every context the services run in, such as GraphQL resolvers.)

/// The attempts of one optimistic write.
#[derive(Debug)]
pub(crate) struct Attempts {
    max: u32,
    next: u32,
}

impl Attempts {
    pub(crate) fn new(max: u32) -> Self {
        Self { max, next: 0 }
    }

    /// The next attempt's number (0-based), after a jittered, growing wait for every attempt but
    /// the first; `None` once `max` attempts were made.
    pub(crate) async fn next(&mut self) -> Option<u32> {
        if self.next >= self.max {
            return None;
        }
        if self.next > 0 {
            super::backoff(self.next).await;
        }
        self.next += 1;
        Some(self.next - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_attempts_and_stops() {
        let mut attempts = Attempts::new(3);
        let mut seen = Vec::new();
        while let Some(n) = attempts.next().await {
            seen.push(n);
        }
        assert_eq!(seen, vec![0, 1, 2]);
        assert_eq!(attempts.next().await, None);
    }

    #[tokio::test]
    async fn a_done_attempt_ends_the_loop() {
        let mut attempts = Attempts::new(16);
        let mut tries = 0;
        let result = loop {
            let Some(n) = attempts.next().await else { break Err("busy") };
            tries += 1;
            if n == 1 {
                break Ok(n);
            }
        };
        assert_eq!(result, Ok(1));
        assert_eq!(tries, 2);
    }
}
