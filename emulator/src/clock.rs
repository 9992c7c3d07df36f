//! The emulator's sense of time: [`Clock`] (real time or a [`VirtualClock`]).
//!
//! Every time-dependent thing in the emulator reads the portal's clock: the `time`
//! object of the envelopes, the leaky bucket, the operating buckets and access-token
//! expiry. A test that starts the emulator with [`Clock::Virtual`] drives time by
//! calling [`VirtualClock::advance`] (the client under test "sleeps" through the same
//! clock), so nothing ever waits for real. The one exception is
//! [`crate::Fault::delay`], which is about the real socket and sleeps for real.
//!
//! Internally time is a [`Duration`] since the Unix epoch (exact nanoseconds), so that
//! `advance(500 ms)` twice drains exactly one request from a 1-per-second bucket; the
//! public readings are `f64` Unix seconds as Bitrix reports them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the emulator reads the time from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The machine's real clock (the default).
    #[default]
    System,
    /// A clock that moves only when a test advances it.
    Virtual(VirtualClock),
}

impl Clock {
    /// Unix time in (fractional) seconds.
    pub fn now_unix(&self) -> f64 {
        self.now().as_secs_f64()
    }

    /// Time since the Unix epoch, exact.
    pub(crate) fn now(&self) -> Duration {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            Clock::Virtual(clock) => clock.now(),
        }
    }
}

impl From<VirtualClock> for Clock {
    fn from(clock: VirtualClock) -> Self {
        Clock::Virtual(clock)
    }
}

/// A manually driven clock. Clones share one time (an `Arc` inside), so the test, the
/// client under test and the emulator can all hold one.
///
/// ```
/// use std::time::Duration;
/// use paysync_emulator::VirtualClock;
/// let clock = VirtualClock::new(1_767_225_600.0); // 2026-01-01T00:00:00Z
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now_unix(), 1_767_225_601.5);
/// assert_eq!(clock.elapsed(), Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock {
    state: Arc<Mutex<VirtualState>>,
}

#[derive(Debug)]
struct VirtualState {
    start: Duration,
    elapsed: Duration,
}

impl VirtualClock {
    /// A clock standing at `start_unix` (Unix seconds; negative or non-finite means 0).
    pub fn new(start_unix: f64) -> Self {
        let start = Duration::try_from_secs_f64(start_unix).unwrap_or_default();
        VirtualClock {
            state: Arc::new(Mutex::new(VirtualState {
                start,
                elapsed: Duration::ZERO,
            })),
        }
    }

    /// Moves the clock forward by `d` (for every clone).
    pub fn advance(&self, d: Duration) {
        let mut state = self.lock();
        state.elapsed = state.elapsed.saturating_add(d);
    }

    /// The current Unix time in seconds.
    pub fn now_unix(&self) -> f64 {
        self.now().as_secs_f64()
    }

    /// How far the clock has been advanced since [`VirtualClock::new`].
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    pub(crate) fn now(&self) -> Duration {
        let state = self.lock();
        state.start.saturating_add(state.elapsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_time() {
        let clock = VirtualClock::new(100.0);
        let other = clock.clone();
        other.advance(Duration::from_secs(5));
        assert_eq!(clock.now_unix(), 105.0);
        assert_eq!(Clock::from(clock).now_unix(), 105.0);
        assert_eq!(VirtualClock::new(f64::NAN).now_unix(), 0.0);
        assert_eq!(VirtualClock::new(-3.0).now_unix(), 0.0);
    }

    #[test]
    fn the_system_clock_is_real_time() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        assert!((Clock::System.now_unix() - now).abs() < 60.0);
    }
}
