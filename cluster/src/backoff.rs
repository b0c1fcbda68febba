//! Reconnect delays: exponential, capped, with jitter so nodes that lost each other at the same moment
//! do not redial in lockstep.

use std::time::Duration;

use crate::settings::BackoffSettings;

/// The delays of one dial loop.
#[derive(Debug)]
pub(crate) struct Backoff {
    settings: BackoffSettings,
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// A fresh backoff; `seed` only varies the jitter (any value works, zero included).
    pub(crate) fn new(settings: BackoffSettings, seed: u64) -> Self {
        Self {
            settings,
            next: settings.initial,
            rng: seed | 1,
        }
    }

    /// Starts over from the initial delay, after a link came up.
    pub(crate) fn reset(&mut self) {
        self.next = self.settings.initial;
    }

    /// The next delay: between half and all of the current step, then the step doubles up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = step.saturating_mul(2).min(self.settings.max);
        let half = step / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.random() % spread
        };
        half + Duration::from_nanos(jitter)
    }

    /// xorshift64: plenty for jitter, and no dependency.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BackoffSettings {
        BackoffSettings {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_inside_the_step() {
        let mut backoff = Backoff::new(settings(), 42);
        let mut step = Duration::from_millis(100);
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(Duration::from_secs(5));
        }
        assert_eq!(step, Duration::from_secs(5));
    }

    #[test]
    fn reset_starts_from_the_initial_delay() {
        let mut backoff = Backoff::new(settings(), 7);
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn different_seeds_give_different_jitter() {
        let delays = |seed| {
            let mut backoff = Backoff::new(settings(), seed);
            (0..6).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_ne!(delays(1), delays(2));
    }
}
