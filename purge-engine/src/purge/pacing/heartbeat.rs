//! nova-purge's own measure of replication lag: the primary's positions,
//! noted with the time before each batch; a replica's lag is the age of the
//! oldest noted position it has not applied.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most this many positions are kept: one is noted per batch, and a
/// replica this far behind is over any sensible limit already.
const KEPT: usize = 100_000;

#[derive(Debug)]
pub(super) struct Heartbeat<P> {
    noted: VecDeque<(Instant, P)>,
}

impl<P> Heartbeat<P> {
    pub fn new() -> Self {
        Heartbeat {
            noted: VecDeque::new(),
        }
    }

    /// The primary is at `position` now.
    pub fn note(&mut self, position: P) {
        if self.noted.len() == KEPT {
            self.noted.pop_front();
        }
        self.noted.push_back((Instant::now(), position));
    }

    /// How far behind a replica is, given whether it has applied a noted
    /// position: zero when it has applied the last one.
    pub fn lag(&self, applied: impl Fn(&P) -> bool) -> Duration {
        self.first_missing(&applied)
            .map_or(Duration::ZERO, |index| self.noted[index].0.elapsed())
    }

    /// Forgets the positions that every replica has applied.
    pub fn forget_applied_by_all<'a, F: Fn(&P) -> bool + 'a>(
        &mut self,
        replicas: impl IntoIterator<Item = F>,
    ) {
        let applied_by_all = replicas
            .into_iter()
            .map(|applied| self.first_missing(&applied).unwrap_or(self.noted.len()))
            .min()
            .unwrap_or(0);
        // The last position stays: it is what the next lag is measured from.
        let forget = applied_by_all.min(self.noted.len().saturating_sub(1));
        self.noted.drain(..forget);
    }

    /// The index of the oldest noted position not applied. Positions only
    /// grow, so the replica has applied everything before it.
    fn first_missing(&self, applied: &impl Fn(&P) -> bool) -> Option<usize> {
        if self.noted.back().is_none_or(|(_, last)| applied(last)) {
            return None;
        }
        self.noted
            .iter()
            .position(|(_, position)| !applied(position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_position_not_applied() {
        let mut heartbeat = Heartbeat::new();
        assert_eq!(
            heartbeat.lag(|_: &u64| false),
            Duration::ZERO,
            "nothing noted"
        );
        heartbeat.note(10);
        std::thread::sleep(Duration::from_millis(30));
        heartbeat.note(20);
        heartbeat.note(30);
        assert_eq!(heartbeat.lag(|p| *p <= 30), Duration::ZERO, "caught up");
        assert!(heartbeat.lag(|p| *p <= 20) < Duration::from_millis(30));
        assert!(heartbeat.lag(|p| *p <= 5) >= Duration::from_millis(30));
        heartbeat.forget_applied_by_all([|p: &u64| *p <= 20, |p: &u64| *p <= 30]);
        assert_eq!(heartbeat.noted.len(), 1, "30 is all that one replica lacks");
        heartbeat.forget_applied_by_all([|p: &u64| *p <= 30]);
        assert_eq!(heartbeat.noted.len(), 1, "the last position stays");
    }
}
