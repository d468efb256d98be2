//! The one HTTP retry policy: which failures are retried, and how long to wait between tries.
//! Re-asking a model whose reply did not validate is a different loop (see `chat`), and never sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;

/// How a provider retries failed HTTP requests.
///
/// Retried: 408, 409, 429, every 5xx, connection failures and timeouts. Never retried: other
/// 4xx (400, 401, 403, 404, 422, ...). The wait is exponential backoff with full jitter, or what
/// the server asked for with `Retry-After` (seconds or an HTTP date) or `retry-after-ms`.
///
/// ```
/// use std::time::Duration;
/// use instructor::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .max_retries(4)
///     .timeout(Duration::from_secs(30))
///     .budget(Duration::from_secs(120));
/// assert!(policy.is_retryable_status(429));
/// assert!(!policy.is_retryable_status(401));
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) timeout: Duration,
    pub(crate) budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            timeout: Duration::from_secs(120),
            budget: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..Self::default() }
    }

    /// Retries after the first try (default 2, so at most 3 requests).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first backoff's upper bound; it doubles each retry (default 500 ms).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The cap on one wait (default 8 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The timeout of each HTTP request (default 120 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The total time one completion may take across its retries (default 600 s).
    pub fn budget(mut self, d: Duration) -> Self {
        self.budget = d;
        self
    }

    /// Whether a response with this status is worth another try.
    pub fn is_retryable_status(&self, status: u16) -> bool {
        matches!(status, 408 | 409 | 429 | 500..=599)
    }

    /// How long to wait before retry number `retry` (0-based): the server's word if it gave one,
    /// else a uniformly random time up to `initial_backoff * 2^retry`, capped by `max_backoff`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked;
        }
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// The wait a response asks for: `retry-after-ms`, then `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&later).expect("header"));
        let d = retry_after(&h).expect("a date");
        assert!(d > Duration::from_secs(28) && d <= Duration::from_secs(30), "{d:?}");
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let p =
            RetryPolicy::default().initial_backoff(Duration::from_millis(100)).max_backoff(Duration::from_millis(300));
        for retry in 0..40 {
            let d = p.backoff(retry, None);
            assert!(d <= Duration::from_millis(100 * (1 << retry.min(10))).min(Duration::from_millis(300)));
        }
        assert_eq!(p.backoff(3, Some(Duration::from_secs(5))), Duration::from_secs(5));
    }

    #[test]
    fn retryable_statuses() {
        let p = RetryPolicy::default();
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert!(p.is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(!p.is_retryable_status(s), "{s}");
        }
    }

    #[tokio::test]
    async fn a_pause_holds_back_until_its_latest_end() {
        let pause = SharedPause::default();
        let started = Instant::now();
        pause.wait().await;
        assert!(started.elapsed() < Duration::from_millis(50), "no pause, no wait");
        pause.extend(Duration::from_millis(150));
        // A shorter wait asked for later does not cut the longer one short.
        pause.extend(Duration::from_millis(10));
        pause.wait().await;
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
        let again = Instant::now();
        pause.wait().await;
        assert!(again.elapsed() < Duration::from_millis(50), "a pause that ended holds nothing back");
    }
}

/// A pause shared by every request of one client. A 429 means the account, not the request, is
/// over its limit, so the wait it asks for holds back every request (a batch's workers too),
/// not just the one that got it.
///
/// Every request reads it, so it is one atomic word (the pause's end, in nanoseconds after the
/// client's creation; 0 for none) rather than a lock the concurrent requests would contend for.
#[derive(Debug)]
pub(crate) struct SharedPause {
    origin: Instant,
    until_nanos: AtomicU64,
}

impl Default for SharedPause {
    fn default() -> Self {
        SharedPause { origin: Instant::now(), until_nanos: AtomicU64::new(0) }
    }
}

impl SharedPause {
    /// Holds every request for at least `wait` from now.
    pub(crate) fn extend(&self, wait: Duration) {
        let end = (self.origin.elapsed() + wait).as_nanos().clamp(1, u128::from(u64::MAX)) as u64;
        self.until_nanos.fetch_max(end, Ordering::Relaxed);
    }

    /// Waits out the current pause, if any.
    pub(crate) async fn wait(&self) {
        loop {
            let until = self.until_nanos.load(Ordering::Relaxed);
            if until == 0 {
                return;
            }
            let end = self.origin + Duration::from_nanos(until);
            if end <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(end.into()).await;
        }
    }
}
