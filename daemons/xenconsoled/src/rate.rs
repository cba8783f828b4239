//! A domain's output rate limit: a byte budget per period, as Xen's
//! xenconsoled has one. Over budget, the daemon stops reading that
//! domain's serial stream until the next period: the guest is slowed (its
//! serial port fills), the daemon does not grow.

use std::time::{Duration, Instant};

/// The period a budget covers.
pub const PERIOD: Duration = Duration::from_millis(200);

/// A per-domain byte budget.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Bytes per period; `None`: no limit.
    per_period: Option<usize>,
    used: usize,
    start: Instant,
}

impl RateLimit {
    /// A limit of `bytes_per_sec` (0: none), starting at `now`.
    pub fn new(bytes_per_sec: u64, now: Instant) -> RateLimit {
        let per_period = (bytes_per_sec > 0).then(|| {
            let ms = u64::try_from(PERIOD.as_millis()).unwrap_or(200);
            // At least one byte a period, so a tiny limit still moves.
            usize::try_from((bytes_per_sec.saturating_mul(ms) / 1000).max(1)).unwrap_or(usize::MAX)
        });
        RateLimit {
            per_period,
            used: 0,
            start: now,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.saturating_duration_since(self.start) >= PERIOD {
            self.start = now;
            self.used = 0;
        }
    }

    /// How many bytes may be read at `now` (0: wait for [`Self::resume_at`]).
    pub fn budget(&mut self, now: Instant) -> usize {
        self.roll(now);
        match self.per_period {
            None => usize::MAX,
            Some(p) => p.saturating_sub(self.used),
        }
    }

    /// Counts `n` bytes read.
    pub fn spend(&mut self, n: usize) {
        self.used = self.used.saturating_add(n);
    }

    /// When the next period starts, if reading waits for it.
    pub fn resume_at(&mut self, now: Instant) -> Option<Instant> {
        (self.budget(now) == 0).then_some(self.start + PERIOD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_budget_reading_waits_for_the_next_period() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10_000, t0);
        assert_eq!(r.budget(t0), 2000);
        r.spend(1500);
        assert_eq!(r.budget(t0), 500);
        assert_eq!(r.resume_at(t0), None);
        r.spend(500);
        assert_eq!(r.budget(t0 + Duration::from_millis(199)), 0);
        assert_eq!(r.resume_at(t0), Some(t0 + PERIOD));
        assert_eq!(r.budget(t0 + PERIOD), 2000);
    }

    #[test]
    fn zero_is_no_limit_and_a_tiny_one_still_moves() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(0, t0);
        r.spend(usize::MAX);
        assert_eq!(r.budget(t0), usize::MAX);
        assert_eq!(r.resume_at(t0), None);
        assert_eq!(RateLimit::new(1, t0).budget(t0), 1);
    }
}
