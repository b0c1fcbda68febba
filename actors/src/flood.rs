//! Fakelag: a token bucket per client that spaces out command processing once a burst is used up.
//!
//! Lines beyond the burst are not dropped; they wait in the connection's receive queue and are
//! processed at the refill rate. A client whose queue grows past the configured bound is
//! disconnected for excess flood.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` tokens, refilled at `per_second`.
pub struct FakeLag {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl FakeLag {
    /// A full bucket. `per_second` must be positive.
    pub fn new(burst: u32, per_second: f64, now: Instant) -> FakeLag {
        FakeLag {
            tokens: f64::from(burst.max(1)),
            burst: f64::from(burst.max(1)),
            per_second: per_second.max(0.001),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
    }

    /// When the next line may be processed.
    pub fn next_allowed(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Spend one token for a processed line.
    pub fn consume(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_spaced_by_rate() {
        let start = Instant::now();
        let mut bucket = FakeLag::new(2, 4.0, start);
        for _ in 0..2 {
            assert_eq!(bucket.next_allowed(start), start);
            bucket.consume(start);
        }
        let next = bucket.next_allowed(start);
        assert_eq!(next - start, Duration::from_millis(250));
        bucket.consume(next);
        assert_eq!(bucket.next_allowed(next) - next, Duration::from_millis(250));
    }

    #[test]
    fn refills_up_to_burst_only() {
        let start = Instant::now();
        let mut bucket = FakeLag::new(3, 1.0, start);
        let later = start + Duration::from_secs(100);
        for _ in 0..3 {
            assert_eq!(bucket.next_allowed(later), later);
            bucket.consume(later);
        }
        assert!(bucket.next_allowed(later) > later);
    }
}
