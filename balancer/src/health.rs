//! Rise and fall: the health of one real server on one port, from the outcomes of its checks.
//! Pure: time is passed in.

use std::time::Instant;

use serde::Serialize;

/// A change of health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Transition {
    /// `rise` consecutive successes.
    Up,
    /// `fall` consecutive failures.
    Down,
}

/// The health of one (node, port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// In rotation. A new server starts out of rotation until it passes `rise` checks, so a
    /// node that is still booting never gets connections.
    pub up: bool,
    /// Whether it has ever been up since the balancer started.
    pub ever_up: bool,
    /// When `up` last changed.
    pub since: Instant,
    /// Consecutive outcomes agreeing with the opposite of `up`.
    streak: u32,
    /// The last failure's reason, for status and logs.
    pub last_error: Option<String>,
    /// Checks run.
    pub checks: u64,
}

impl Health {
    /// A server not yet checked.
    pub fn new(now: Instant) -> Health {
        Health {
            up: false,
            ever_up: false,
            since: now,
            streak: 0,
            last_error: None,
            checks: 0,
        }
    }

    /// Records one check's outcome; returns the transition it caused, if any.
    pub fn observe(
        &mut self,
        outcome: Result<(), String>,
        rise: u32,
        fall: u32,
        now: Instant,
    ) -> Option<Transition> {
        self.checks += 1;
        let ok = outcome.is_ok();
        if let Err(e) = outcome {
            self.last_error = Some(e);
        }
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { rise } else { fall };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.up = ok;
        self.since = now;
        if ok {
            self.ever_up = true;
            Some(Transition::Up)
        } else {
            Some(Transition::Down)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rise_and_fall_need_consecutive_outcomes() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        let ok = || Ok(());
        let bad = || Err("refused".to_string());
        assert_eq!(h.observe(ok(), 3, 2, t0), None);
        assert_eq!(h.observe(ok(), 3, 2, t0), None);
        assert_eq!(
            h.observe(ok(), 3, 2, t0 + Duration::from_secs(1)),
            Some(Transition::Up)
        );
        assert!(h.up && h.ever_up);
        assert_eq!(h.since, t0 + Duration::from_secs(1));
        // One failure between successes is not enough to fall, and resets the count.
        assert_eq!(h.observe(bad(), 3, 2, t0), None);
        assert_eq!(h.observe(ok(), 3, 2, t0), None);
        assert_eq!(h.observe(bad(), 3, 2, t0), None);
        assert_eq!(h.observe(bad(), 3, 2, t0), Some(Transition::Down));
        assert_eq!(h.last_error.as_deref(), Some("refused"));
        assert_eq!(h.checks, 7);
    }
}
