//! Many extractions at once: bounded concurrency under requests- and tokens-per-minute limits.
//!
//! A 429 from the provider pauses every request of the client, not only the one that got it
//! (see [`RetryPolicy`](crate::RetryPolicy)), so a batch slows down as a whole.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures_core::Stream;
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::client::{Client, Extraction};
use crate::error::Error;
use crate::request::ChatRequest;

/// How a batch runs.
///
/// ```
/// let options = instructor::BatchOptions::default().concurrency(64).requests_per_minute(3_000);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct BatchOptions {
    concurrency: usize,
    rpm: Option<u32>,
    tpm: Option<u32>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { concurrency: 16, rpm: None, tpm: None }
    }
}

impl BatchOptions {
    /// Extractions in flight at once (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// At most this many requests started per minute.
    pub fn requests_per_minute(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm).filter(|r| *r > 0);
        self
    }

    /// At most this many tokens per minute: a request is held until its estimate fits, and the
    /// estimate is corrected with the usage the provider reports.
    pub fn tokens_per_minute(mut self, tpm: u32) -> Self {
        self.tpm = Some(tpm).filter(|t| *t > 0);
        self
    }
}

/// One record's outcome.
#[derive(Debug)]
pub struct BatchItem<T> {
    /// The record's id, as given.
    pub id: String,
    /// The extraction, or why there is none (with the attempts and tokens spent).
    pub result: Result<Extraction<T>, Error>,
}

impl Client {
    /// Extracts a `T` from each record, `options.concurrency` at a time, within the rate
    /// limits; results come as they finish (not in input order). Records are taken from the
    /// iterator only as slots free up, so a huge input is never held in memory.
    ///
    /// ```no_run
    /// # async fn run(client: instructor::Client) {
    /// use futures_util::StreamExt;
    /// use instructor::{BatchOptions, ChatRequest};
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct UserDetails { name: String, age: u32 }
    ///
    /// let texts = ["Jason is 20", "Ann is 31"];
    /// let records = texts.into_iter().enumerate().map(|(i, t)| (i.to_string(), ChatRequest::new("gpt-4o-mini").user(t)));
    /// let mut results = std::pin::pin!(client.batch::<UserDetails, _>(records, BatchOptions::default()));
    /// while let Some(item) = results.next().await {
    ///     match item.result {
    ///         Ok(done) => println!("{}: {:?}", item.id, done.value),
    ///         Err(e) => eprintln!("{}: {e}", item.id),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn batch<T, I>(&self, records: I, options: BatchOptions) -> impl Stream<Item = BatchItem<T>> + Send + 'static
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
        I: IntoIterator<Item = (String, ChatRequest)>,
        I::IntoIter: Send + 'static,
    {
        self.batch_with(records, options, |client, request| async move {
            client.chat().create_with_completion::<T>(request).await
        })
    }

    /// [`batch`](Self::batch) for a schema known only at run time.
    #[cfg(feature = "dynamic")]
    pub fn batch_values<I>(
        &self,
        records: I,
        schema: Arc<crate::ResponseSchema>,
        options: BatchOptions,
    ) -> impl Stream<Item = BatchItem<serde_json::Value>> + Send + 'static
    where
        I: IntoIterator<Item = (String, ChatRequest)>,
        I::IntoIter: Send + 'static,
    {
        self.batch_with(records, options, move |client, request| {
            let schema = Arc::clone(&schema);
            async move { client.chat().create_value(request, &schema).await }
        })
    }

    fn batch_with<T, I, F, Fut>(
        &self,
        records: I,
        options: BatchOptions,
        extract: F,
    ) -> impl Stream<Item = BatchItem<T>> + Send + 'static
    where
        T: Send + 'static,
        I: IntoIterator<Item = (String, ChatRequest)>,
        I::IntoIter: Send + 'static,
        F: Fn(Client, ChatRequest) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Extraction<T>, Error>> + Send + 'static,
    {
        let limiter = Arc::new(RateLimiter::new(&options));
        let client = self.clone();
        futures_util::stream::iter(records)
            .map(move |(id, request)| {
                let limiter = Arc::clone(&limiter);
                let estimate = estimate_tokens(&request);
                let job = extract(client.clone(), request);
                async move {
                    limiter.acquire(estimate).await;
                    let result = job.await;
                    let spent = match &result {
                        Ok(extraction) => extraction.usage.total_tokens,
                        Err(e) => e.usage().total_tokens,
                    };
                    limiter.settle(estimate, spent);
                    BatchItem { id, result }
                }
            })
            .buffer_unordered(options.concurrency.max(1))
    }
}

/// A rough token count for a request before it is sent: prompt characters / 4, plus the reply's
/// allowance. The limiter corrects it with the real usage afterwards.
fn estimate_tokens(request: &ChatRequest) -> u64 {
    let prompt: usize = request.messages().iter().map(|m| m.content.as_deref().map_or(0, str::len)).sum();
    (prompt / 4) as u64 + u64::from(request.max_tokens_or(256))
}

/// A token bucket refilled continuously; it holds at most one second's worth, so a limit per
/// minute is never spent in a burst at the start.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    available: f64,
    per_second: f64,
    refilled: Instant,
}

impl Bucket {
    fn per_minute(limit: u32, at_least: f64) -> Bucket {
        let per_second = f64::from(limit) / 60.0;
        let capacity = per_second.max(at_least);
        Bucket { capacity, available: capacity, per_second, refilled: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.available = (self.available + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
    }

    /// How long until `amount` fits (an amount over the capacity fits once the bucket is full).
    fn wait_for(&self, amount: f64) -> Duration {
        let amount = amount.min(self.capacity);
        if self.available >= amount {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((amount - self.available) / self.per_second)
    }
}

#[derive(Debug)]
struct RateLimiter {
    buckets: std::sync::Mutex<(Option<Bucket>, Option<Bucket>)>,
}

impl RateLimiter {
    fn new(options: &BatchOptions) -> RateLimiter {
        let requests = options.rpm.map(|r| Bucket::per_minute(r, 1.0));
        let tokens = options.tpm.map(|t| Bucket::per_minute(t, 1.0));
        RateLimiter { buckets: std::sync::Mutex::new((requests, tokens)) }
    }

    async fn acquire(&self, tokens: u64) {
        loop {
            let wait = {
                let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let (requests, budget) = &mut *guard;
                let now = Instant::now();
                let mut wait = Duration::ZERO;
                if let Some(b) = requests.as_mut() {
                    b.refill(now);
                    wait = wait.max(b.wait_for(1.0));
                }
                if let Some(b) = budget.as_mut() {
                    b.refill(now);
                    wait = wait.max(b.wait_for(tokens as f64));
                }
                if wait.is_zero() {
                    if let Some(b) = requests.as_mut() {
                        b.available -= 1.0;
                    }
                    if let Some(b) = budget.as_mut() {
                        b.available -= (tokens as f64).min(b.capacity);
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Corrects the token bucket with what the request really spent (it may go below zero,
    /// which holds the next requests back).
    fn settle(&self, estimated: u64, spent: u64) {
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = guard.1.as_mut() {
            b.available += estimated.min(b.capacity as u64) as f64 - spent as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_are_spread_out() {
        let limiter = RateLimiter::new(&BatchOptions::default().requests_per_minute(120));
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            limiter.acquire(0).await;
        }
        // 2 per second with a 2-request bucket: the first 2 at once, then one every 0.5 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((3.9..4.1).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_follow_real_usage() {
        let limiter = RateLimiter::new(&BatchOptions::default().tokens_per_minute(6_000));
        let start = tokio::time::Instant::now();
        // 100 tokens per second; each request estimated at 50 but spending 100.
        for _ in 0..5 {
            limiter.acquire(50).await;
            limiter.settle(50, 100);
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!((2.9..4.1).contains(&elapsed), "{elapsed}");
    }
}
