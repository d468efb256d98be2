//! A request with a 5 MB image: client CPU per call against a hand-written reqwest call that
//! base64-encodes the same bytes into the same body, in one run, against a loopback server in a
//! child process; and the peak memory of one call.
//!
//! ```sh
//! cargo bench -p instructor-rs --bench media
//! ```
//!
//! Targets: CPU per call ≤ 1.2× the hand-written call's (the image is base64-encoded once, into
//! the buffer the request borrows); the peak memory one call adds ≤ 3× the image's size.
#![allow(unsafe_code)] // clock_gettime

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use instructor::{ChatRequest, Client, Image, Mode, RetryPolicy, parts};
use instructor_testserver::{Reply, TestServer};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Receipt {
    total: f64,
}

const SIZE: usize = 5 << 20;
const PROMPT: &str = "Extract the receipt's total.";

/// 5 MB that read as a PNG (its signature, then noise that base64 cannot shorten).
fn image_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(SIZE);
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        let server = TestServer::start_with_workers(1);
        server.record(false);
        server.set_fallback(Reply::text(r#"{"total":5.75}"#));
        println!("{}", server.url());
        std::io::stdout().flush().ok();
        std::io::stdin().read_to_end(&mut Vec::new()).ok();
        return;
    }
    let server = Server::spawn();
    let bytes = image_bytes();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = Client::builder()
        .base_url(&server.url)
        .api_key("sk-bench")
        .mode(Mode::Json)
        .retry_policy(RetryPolicy::default().max_retries(0))
        .build()
        .expect("client");
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.url);

    if std::env::var_os("BENCH_PEAK").is_some() {
        // One call alone, for the memory it adds (the image's bytes are already in memory).
        let before = rss_mb("VmRSS");
        rt.block_on(library(&client, &bytes));
        let added = rss_mb("VmHWM") - before;
        let ratio = added / (SIZE as f64 / (1 << 20) as f64);
        println!(
            "peak memory one call adds: {added:.1} MB = {ratio:.2}× the 5 MB image (target ≤ 3): {}",
            verdict(ratio <= 3.0)
        );
        return;
    }
    let rounds = if std::env::var_os("BENCH_QUICK").is_some() { 3 } else { 11 };
    let calls = 10;
    rt.block_on(async {
        library(&client, &bytes).await;
        baseline(&http, &url, &bytes).await;
    });
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut measure_ours = || {
            ours.push(
                cpu_ms(|| {
                    rt.block_on(async {
                        for _ in 0..calls {
                            library(&client, &bytes).await
                        }
                    })
                }) / calls as f64,
            )
        };
        let mut measure_base = || {
            base.push(
                cpu_ms(|| {
                    rt.block_on(async {
                        for _ in 0..calls {
                            baseline(&http, &url, &bytes).await
                        }
                    })
                }) / calls as f64,
            )
        };
        if round % 2 == 0 {
            measure_ours();
            measure_base();
        } else {
            measure_base();
            measure_ours();
        }
    }
    let (o, b) = (median(&mut ours), median(&mut base));
    println!(
        "a request with a 5 MB image, loopback server in another process; median of {rounds} rounds of {calls} calls"
    );
    println!("  hand-written (base64 into the body, reqwest POST): {b:.2} ms CPU per call");
    println!("  instructor (Image::from_bytes, create::<T>):        {o:.2} ms CPU per call");
    println!("  ratio {:.2}× (target ≤ 1.2): {}", o / b, verdict(o / b <= 1.2));
    // The peak is measured in a process of its own, so the rounds above do not count.
    let exe = std::env::current_exe().expect("bench binary");
    let out = Command::new(exe).env("BENCH_PEAK", "1").output().expect("peak run");
    print!("  {}", String::from_utf8_lossy(&out.stdout));
}

async fn library(client: &Client, bytes: &[u8]) {
    let image = Image::from_bytes(bytes).expect("png");
    let receipt: Receipt =
        client.chat().create(ChatRequest::new("bench").user(parts![PROMPT, image])).await.expect("call");
    std::hint::black_box(receipt);
}

/// What a careful user writes by hand: the image base64-encoded into a data URL in the body.
async fn baseline(http: &reqwest::Client, url: &str, bytes: &[u8]) {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        model: &'a str,
        messages: [serde_json::Value; 1],
        response_format: serde_json::Value,
    }
    let data_url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes));
    let body = Body {
        model: "bench",
        messages: [serde_json::json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url}}, {"type": "text", "text": PROMPT}]})],
        response_format: serde_json::json!({"type": "json_object"}),
    };
    let body = serde_json::to_vec(&body).expect("encode");
    let reply = http
        .post(url)
        .bearer_auth("sk-bench")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let reply: serde_json::Value = serde_json::from_slice(&reply.bytes().await.expect("body")).expect("reply");
    let receipt: Receipt =
        serde_json::from_str(reply["choices"][0]["message"]["content"].as_str().expect("text")).expect("receipt");
    std::hint::black_box(receipt);
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn cpu_ms(f: impl FnOnce()) -> f64 {
    let start = process_cpu();
    f();
    (process_cpu() - start).as_secs_f64() * 1e3
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A memory figure of this process from /proc (`VmRSS` now, `VmHWM` its peak), in MB.
fn rss_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn() -> Server {
        let exe = std::env::current_exe().expect("bench binary");
        let mut child = Command::new(exe)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut url = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut url).expect("url");
        Server { child, url: url.trim().to_owned() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        self.child.wait().ok();
    }
}
