//! `Client::batch` against the loopback server: every record answered once, concurrency bounded.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use instructor::{BatchOptions, ChatRequest, Mode};

#[tokio::test]
async fn every_record_gets_one_result_within_the_concurrency() {
    let server = TestServer::start();
    server.record(false);
    server.set_cycle(vec![
        Reply::text(JASON).delay(Duration::from_millis(20)),
        Reply::text(r#"{"name":"Jason","age":"20"}"#).delay(Duration::from_millis(20)),
        Reply::text("no JSON here").delay(Duration::from_millis(20)),
    ]);
    let client = client(&server, Mode::Json);
    let records = (0..60).map(|i| (format!("r{i}"), ChatRequest::new("m").user(format!("Person {i}")).max_retries(0)));
    let started = Instant::now();
    let results: Vec<_> =
        client.batch::<UserDetails, _>(records, BatchOptions::default().concurrency(10)).collect().await;
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 60);
    let ids: HashSet<&str> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 60);
    let ok = results.iter().filter(|r| r.result.is_ok()).count();
    assert_eq!(ok, 40, "two of every three replies validate (one after repair)");
    assert!(results.iter().filter_map(|r| r.result.as_ref().err()).all(|e| e.is_exhausted()));
    // 60 requests of 20 ms, 10 at a time: about 120 ms; one at a time would be 1.2 s.
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(server.served(), 60);
}

#[tokio::test]
async fn requests_per_minute_hold_the_batch_back() {
    let server = TestServer::start();
    server.set_fallback(Reply::text(JASON));
    let client = client(&server, Mode::Json);
    let records = (0..6).map(|i| (i.to_string(), ChatRequest::new("m").user("Jason is 20")));
    let started = Instant::now();
    let options = BatchOptions::default().concurrency(6).requests_per_minute(240);
    let results: Vec<_> = client.batch::<UserDetails, _>(records, options).collect().await;
    assert!(results.iter().all(|r| r.result.is_ok()));
    // 4 per second, a bucket of 4: the last 2 wait a quarter second each.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
}
