//! Time for the client: a [`Clock`] gives "now" (monotonic and Unix) and sleeps.
//!
//! Every wait of the client — the rate-limit throttle, retry backoff, pauses for the
//! method time budget — goes through the client's clock, so tests can swap in a virtual
//! clock that advances instead of sleeping (integration tests drive the emulator's clock
//! this way, over real HTTP). The HTTP request timeout is the one exception: it stays
//! reqwest's, on real time.
//!
//! [`SystemClock`] is the real one: tokio's sleep and `Instant` (so it follows tokio's
//! paused time in tests) and the system's wall clock for Unix time.
//! [`ClockSleeper`] adapts a clock to backon's `Sleeper`. Nothing here does I/O.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of time for the client.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time since an arbitrary origin fixed for this clock.
    fn now(&self) -> Duration;
    /// Wall-clock Unix time in seconds, comparable with the portal's `operating_reset_at`.
    fn unix_now(&self) -> f64;
    /// Waits for `d` of this clock's time.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock: `tokio::time` for waiting and monotonic time (it follows tokio's
/// paused time in `#[tokio::test(start_paused = true)]`), `SystemTime` for Unix time.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is the moment of this call.
    pub fn new() -> SystemClock {
        SystemClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// backon's `Sleeper` over a [`Clock`], so retry backoff waits on the client's clock.
#[derive(Debug, Clone)]
pub(crate) struct ClockSleeper(pub(crate) Arc<dyn Clock>, pub(crate) super::cancel::Cancel);

impl backon::Sleeper for ClockSleeper {
    type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Cut short by the client's cancellation: the retry loop then starts no new
    /// attempt.
    fn sleep(&self, dur: Duration) -> Self::Sleep {
        let clock = Arc::clone(&self.0);
        let cancel = self.1.clone();
        Box::pin(async move {
            tokio::select! {
                () = clock.sleep(dur) => {}
                () = cancel.cancelled() => {}
            }
        })
    }
}

/// A clock for unit tests: sleeping advances it at once and records the wait.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::Mutex;

    use super::*;

    /// Starts at monotonic zero and Unix time `unix_origin`.
    #[derive(Debug)]
    pub(crate) struct FakeClock {
        unix_origin: f64,
        state: Mutex<(Duration, Vec<Duration>)>,
    }

    impl FakeClock {
        pub(crate) fn new(unix_origin: f64) -> Arc<FakeClock> {
            Arc::new(FakeClock {
                unix_origin,
                state: Mutex::new((Duration::ZERO, Vec::new())),
            })
        }

        /// Every sleep so far, in order.
        pub(crate) fn sleeps(&self) -> Vec<Duration> {
            self.state.lock().unwrap().1.clone()
        }

        /// Moves time forward without a recorded sleep.
        pub(crate) fn advance(&self, d: Duration) {
            self.state.lock().unwrap().0 += d;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.state.lock().unwrap().0
        }

        fn unix_now(&self) -> f64 {
            self.unix_origin + self.now().as_secs_f64()
        }

        fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            let mut state = self.state.lock().unwrap();
            state.0 += d;
            state.1.push(d);
            Box::pin(std::future::ready(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use backon::Sleeper;

    use super::fake::FakeClock;
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn system_clock_follows_paused_tokio_time() {
        let clock = SystemClock::new();
        let before = clock.now();
        clock.sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now() - before, Duration::from_secs(90));
        assert!(clock.unix_now() > 1_600_000_000.0);
    }

    #[tokio::test]
    async fn the_sleeper_uses_the_clock() {
        let clock = FakeClock::new(1000.0);
        let sleeper = ClockSleeper(clock.clone(), super::super::cancel::Cancel::new());
        sleeper.sleep(Duration::from_secs(3)).await;
        assert_eq!(clock.now(), Duration::from_secs(3));
        assert_eq!(clock.unix_now(), 1003.0);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
    }
}
