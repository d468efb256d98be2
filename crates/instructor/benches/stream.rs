//! Streaming cost: partial values and iterables over a long list, against reading the same
//! stream without parsing, in one run. A loopback server in a child process streams a list of N
//! objects (id, name, email, tags) four characters per SSE event; another streams the same
//! objects as N parallel tool calls (one per object, their pieces interleaved).
//!
//! ```sh
//! cargo bench -p instructor-rs --bench stream
//! ```
//!
//! Targets: partial streaming at N=5,000 under 0.5 s of CPU and at most 3× the no-parse
//! baseline; N5000/N1000 ≤ 6 (linear); iterable at N=5,000 under 0.3 s; and over each native
//! API's own stream format (Anthropic's events, Gemini's chunks, the Responses API's events),
//! partials at N=5,000 under 0.5 s and linear. CPU is the client process's user + system time;
//! the server's is not counted.
#![allow(unsafe_code)] // clock_gettime

use std::io::{BufRead, BufReader};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use instructor::{Api, ChatRequest, Client, Mode, PartialEvent};
use instructor_testserver::{Reply, TestServer};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Contact {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
}

const CHUNK_CHARS: usize = 4;

fn contact(i: usize) -> String {
    format!(r#"{{"id":{i},"name":"Person number {i}","email":"person{i}@example.com","tags":["t{}","vip"]}}"#, i % 7)
}

fn items(n: usize) -> String {
    let items: Vec<String> = (0..n).map(contact).collect();
    format!("{{\"value\":[{}]}}", items.join(","))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        serve(n);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve-calls") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        serve_calls(n);
        return;
    }
    if let Some(i) = args.iter().position(|a| a.starts_with("--serve-api-")) {
        let api = native(args[i].trim_start_matches("--serve-api-"));
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        serve_api(api, n);
        return;
    }
    let rounds = if std::env::var("BENCH_QUICK").is_ok() { 1 } else { 5 };
    // `BENCH_ONLY=raw|events|partial|iterable`: one N=5,000 run of one kind, for its peak memory.
    if let Ok(which) = std::env::var("BENCH_ONLY") {
        let large = Server::spawn(5_000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let before = peak_rss_mb();
        rt.block_on(async {
            match which.as_str() {
                "raw" => read_raw(&large.url).await,
                "events" => read_events(&large.url).await,
                "partial" => drop(partial(&large.url, 5_000).await),
                _ => iterable(&large.url, 5_000).await,
            }
        });
        println!("{which}: peak RSS {:.1} MB (before the run {before:.1} MB)", peak_rss_mb());
        return;
    }
    let small = Server::spawn(1_000);
    let large = Server::spawn(5_000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let calls_small = Server::spawn_calls(1_000);
    let calls_large = Server::spawn_calls(5_000);
    let doc_large = items(5_000).len();

    let mut baseline_small = Vec::new();
    let mut baseline_large = Vec::new();
    let mut framed_large = Vec::new();
    let mut partial_small = Vec::new();
    let mut partial_large = Vec::new();
    let mut iterable_large = Vec::new();
    let mut parallel_small = Vec::new();
    let mut parallel_large = Vec::new();
    let mut partials_seen = 0;
    for _ in 0..rounds {
        baseline_small.push(cpu(|| rt.block_on(read_raw(&small.url))).0);
        baseline_large.push(cpu(|| rt.block_on(read_raw(&large.url))).0);
        framed_large.push(cpu(|| rt.block_on(read_events(&large.url))).0);
        partial_small.push(cpu(|| rt.block_on(partial(&small.url, 1_000))).0);
        let (t, seen) = cpu(|| rt.block_on(partial(&large.url, 5_000)));
        partial_large.push(t);
        partials_seen = seen;
        iterable_large.push(cpu(|| rt.block_on(iterable(&large.url, 5_000))).0);
        parallel_small.push(cpu(|| rt.block_on(partial_calls(&calls_small.url, 1_000))).0);
        parallel_large.push(cpu(|| rt.block_on(partial_calls(&calls_large.url, 5_000))).0);
    }
    let [bs, bl, fl, ps, pl, il, qs, ql] = [
        &baseline_small,
        &baseline_large,
        &framed_large,
        &partial_small,
        &partial_large,
        &iterable_large,
        &parallel_small,
        &parallel_large,
    ]
    .map(|v| median(v));
    let events = doc_large.div_ceil(CHUNK_CHARS);
    println!("streaming a list of N objects, {CHUNK_CHARS} characters per SSE event; client CPU, median of {rounds}");
    println!(
        "  N=5,000: document {:.0} KB, {events} events, {partials_seen} partial values yielded",
        doc_large as f64 / 1e3
    );
    println!("  no-parse baseline (HTTP bytes only)   N=1,000 {:>8.1} ms   N=5,000 {:>8.1} ms", bs * 1e3, bl * 1e3);
    println!("  SSE events + chunk decode, no partials                     N=5,000 {:>8.1} ms", fl * 1e3);
    println!("  create_partial                        N=1,000 {:>8.1} ms   N=5,000 {:>8.1} ms", ps * 1e3, pl * 1e3);
    println!("  create_iterable                                            N=5,000 {:>8.1} ms", il * 1e3);
    println!("  create_partial, N parallel tool calls N=1,000 {:>8.1} ms   N=5,000 {:>8.1} ms", qs * 1e3, ql * 1e3);
    println!();
    check("partial N=5,000 CPU (s)", pl, "<", 0.5);
    check("partial N=5,000 / no-parse baseline", pl / bl, "<=", 3.0);
    check("partial N=5,000 / N=1,000 (linear: 5)", pl / ps, "<=", 6.0);
    check("iterable N=5,000 CPU (s)", il, "<", 0.3);
    check("parallel calls N=5,000 / N=1,000 (linear: 5)", ql / qs, "<=", 6.0);
    println!("  (for reference) partial / SSE-decoding baseline {:.2}×", pl / fl);

    // The same list in each native API's own stream format.
    println!();
    println!("create_partial over each API's own events ({CHUNK_CHARS} characters of text per event)");
    for name in ["anthropic", "gemini", "responses"] {
        let api = native(name);
        let small = Server::spawn_with(&format!("--serve-api-{name}"), 1_000);
        let large = Server::spawn_with(&format!("--serve-api-{name}"), 5_000);
        let (mut s, mut l) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            s.push(cpu(|| rt.block_on(partial_on(api, &small.url, 1_000))).0);
            l.push(cpu(|| rt.block_on(partial_on(api, &large.url, 5_000))).0);
        }
        let (s, l) = (median(&s), median(&l));
        println!("  {name:<10} N=1,000 {:>8.1} ms   N=5,000 {:>8.1} ms", s * 1e3, l * 1e3);
        check(&format!("{name} partial N=5,000 CPU (s)"), l, "<", 0.5);
        check(&format!("{name} partial N=5,000 / N=1,000"), l / s, "<=", 6.0);
    }
    println!("  peak RSS of the client process {:.1} MB (document {:.1} MB)", peak_rss_mb(), doc_large as f64 / 1e6);
}

fn native(name: &str) -> Api {
    match name {
        "anthropic" => Api::Anthropic,
        "gemini" => Api::Gemini,
        _ => Api::Responses,
    }
}

async fn partial_on(api: Api, url: &str, n: usize) {
    let client = Client::builder().api(api).base_url(url).api_key("sk-bench").mode(Mode::Json).build().expect("client");
    drain_partials(&client, n).await;
}

fn check(what: &str, value: f64, op: &str, target: f64) {
    let ok = if op == "<" { value < target } else { value <= target };
    println!("  {what:<40} {value:>7.3}  (target {op} {target}) {}", if ok { "ok" } else { "MISSED" });
}

fn client(url: &str) -> Client {
    client_in(url, Mode::Json)
}

fn client_in(url: &str, mode: Mode) -> Client {
    Client::builder().base_url(url).api_key("sk-bench").mode(mode).build().expect("client")
}

fn request() -> ChatRequest {
    ChatRequest::new("bench").user("List the contacts.").max_retries(0)
}

/// The stream's bytes, read and counted: what any client pays.
async fn read_raw(url: &str) {
    let body = serde_json::json!({"model": "bench", "messages": [{"role": "user", "content": "x"}], "stream": true});
    let mut response = reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .expect("response");
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        bytes += chunk.len();
    }
    assert!(bytes > 0);
}

/// The stream read through the library's SSE reader and chunk decoding (the provider's delta
/// stream), without the JSON document being parsed.
async fn read_events(url: &str) {
    let client = client(url);
    let request = instructor::CompletionRequest::new("bench", vec![instructor::Message::user("x")]);
    let mut deltas = client.provider().stream(&request).await.expect("stream");
    let mut text = 0;
    while let Some(delta) = deltas.next().await {
        text += delta.expect("delta").content.map_or(0, |c| c.len());
    }
    assert!(text > 0);
}

async fn partial(url: &str, n: usize) -> usize {
    drain_partials(&client(url), n).await
}

async fn partial_calls(url: &str, n: usize) -> usize {
    drain_partials(&client_in(url, Mode::ParallelTools), n).await
}

/// Reads every partial of a `create_partial` stream of N contacts and checks the final value;
/// returns how many partials there were.
async fn drain_partials(client: &Client, n: usize) -> usize {
    let mut stream = pin!(client.chat().create_partial::<Vec<Contact>>(request()));
    let mut seen = 0;
    let mut done = false;
    while let Some(event) = stream.next().await {
        match event.expect("event") {
            PartialEvent::Partial(p) => {
                seen += 1;
                std::hint::black_box(p.json().as_array().map(Vec::len));
            }
            PartialEvent::Complete(extraction) => {
                assert_eq!(extraction.value.len(), n);
                done = true;
            }
        }
    }
    assert!(done);
    seen
}

async fn iterable(url: &str, n: usize) {
    let client = client(url);
    let stream = client.chat().create_iterable::<Contact>(request());
    let count = stream.map(|item| item.expect("item")).count().await;
    assert_eq!(count, n);
}

fn cpu<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let start = process_cpu();
    let r = f();
    ((process_cpu() - start).as_secs_f64(), r)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Peak resident memory of this process (`VmHWM`; `getrusage` would report cargo's, which
/// survives `exec`).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// The loopback server, in a child process so its CPU is not counted.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(n: usize) -> Server {
        Server::spawn_with("--serve", n)
    }

    fn spawn_calls(n: usize) -> Server {
        Server::spawn_with("--serve-calls", n)
    }

    fn spawn_with(flag: &str, n: usize) -> Server {
        let exe = std::env::current_exe().expect("bench binary");
        let mut child =
            Command::new(exe).args([flag, &n.to_string()]).stdout(Stdio::piped()).spawn().expect("server process");
        let stdout = child.stdout.take().expect("stdout");
        let mut url = String::new();
        BufReader::new(stdout).read_line(&mut url).expect("server url");
        Server { child, url: url.trim().to_owned() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn serve(n: usize) {
    let server = TestServer::start_with_workers(1);
    server.record(false);
    server.set_fallback(Reply::stream_text(&items(n), CHUNK_CHARS));
    println!("{}", server.url());
    std::thread::sleep(Duration::from_secs(3600));
}

fn serve_api(api: Api, n: usize) {
    let server = TestServer::start_with_workers(1);
    server.record(false);
    let text = items(n);
    let (reply, base) = match api {
        Api::Anthropic => (Reply::anthropic_stream_text(&text, CHUNK_CHARS), server.origin()),
        Api::Gemini => (Reply::gemini_stream_text(&text, CHUNK_CHARS), server.origin()),
        _ => (Reply::responses_stream_text(&text, CHUNK_CHARS), server.url()),
    };
    server.set_fallback(reply);
    println!("{base}");
    std::thread::sleep(Duration::from_secs(3600));
}

fn serve_calls(n: usize) {
    let contacts: Vec<String> = (0..n).map(contact).collect();
    let calls: Vec<(&str, &str)> = contacts.iter().map(|c| ("Contact", c.as_str())).collect();
    let server = TestServer::start_with_workers(1);
    server.record(false);
    server.set_fallback(Reply::stream_tool_calls(&calls, CHUNK_CHARS));
    println!("{}", server.url());
    std::thread::sleep(Duration::from_secs(3600));
}
