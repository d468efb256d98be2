//! Client CPU per call: the library against a hand-written reqwest + serde_json baseline, in one
//! run, against a loopback server in a child process that answers instantly.
//!
//! ```sh
//! cargo bench -p instructor-rs --bench client   # timed ratios
//! scripts/bench-client.sh                    # the same, plus instruction counts under callgrind
//! ```
//!
//! Reported as ratios (targets: CPU per call ≤ 1.15× the baseline, throughput at 64 concurrent
//! ≥ 0.9× the baseline's, a call needing one re-ask ≤ 2.3× a plain call). CPU is the client
//! process's user + system time (`CLOCK_PROCESS_CPUTIME_ID`); the server runs in another process.
#![allow(unsafe_code)] // clock_gettime, for process CPU time

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use instructor::{ChatRequest, Client, Mode, RetryPolicy};
use instructor_testserver::{Reply, TestServer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct UserDetails {
    name: String,
    age: u32,
}

const MODEL: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
const SYSTEM: &str = "You are a world class extractor";
const USER: &str = r#"Extract the following entities: "Jason is 20""#;
const VALID: &str = r#"{"name":"Jason","age":20}"#;
const INVALID: &str = r#"{"name":"Jason","age":"twenty"}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(args.get(i + 1).map(String::as_str) == Some("alternate"));
        return;
    }
    let quick = std::env::var("BENCH_QUICK").is_ok();
    // Many short rounds, alternating which side goes first: this machine is a small VM whose
    // speed drifts, and interleaving spreads the drift evenly over both sides.
    let (seq_calls, rounds, conc_calls, conc_rounds) = if quick { (300, 4, 2_048, 2) } else { (1_000, 21, 12_800, 8) };

    let plain = Server::spawn(false);
    let alternate = Server::spawn(true);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let baseline = Arc::new(Baseline::new(&plain.url));
    let library = library_client(&plain.url);
    let reask_client = library_client(&alternate.url);

    // `BENCH_PROFILE=library|baseline`: only sequential calls of one kind, for a profiler.
    if let Ok(which) = std::env::var("BENCH_PROFILE") {
        let calls = std::env::var("BENCH_CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(seq_calls);
        rt.block_on(async {
            for _ in 0..calls {
                if which == "baseline" { baseline.call().await } else { library_call(&library, 0).await }
            }
        });
        return;
    }

    // Warm up connections and caches.
    rt.block_on(async {
        for _ in 0..200 {
            baseline.call().await;
            library_call(&library, 0).await;
        }
    });

    let mut base_seq = Vec::new();
    let mut lib_seq = Vec::new();
    let mut reask_seq = Vec::new();
    for round in 0..rounds {
        // Alternate which side goes first, so neither always runs on a warmer machine.
        let mut measure_baseline = || {
            base_seq.push(cpu_per_call(seq_calls, || {
                rt.block_on(async {
                    for _ in 0..seq_calls {
                        baseline.call().await
                    }
                })
            }))
        };
        let mut measure_library = || {
            lib_seq.push(cpu_per_call(seq_calls, || {
                rt.block_on(async {
                    for _ in 0..seq_calls {
                        library_call(&library, 0).await
                    }
                })
            }))
        };
        if round % 2 == 0 {
            measure_baseline();
            measure_library();
        } else {
            measure_library();
            measure_baseline();
        }
        // Every call gets an invalid reply first, then a valid one: one re-ask each.
        reask_seq.push(cpu_per_call(seq_calls / 2, || {
            rt.block_on(async {
                for _ in 0..seq_calls / 2 {
                    library_call(&reask_client, 1).await;
                }
            })
        }));
    }

    // reqwest drives pooled connections on the runtime that opened them: the concurrent phase
    // gets its own clients on its own runtime.
    let baseline = Arc::new(Baseline::new(&plain.url));
    let library = library_client(&plain.url);
    let mut base_conc = Vec::new();
    let mut lib_conc = Vec::new();
    for round in 0..conc_rounds {
        let b = Arc::clone(&baseline);
        let measure_baseline = || {
            concurrent(&mt, conc_calls, move || {
                let b = Arc::clone(&b);
                async move { b.call().await }
            })
        };
        let c = library.clone();
        let measure_library = || {
            concurrent(&mt, conc_calls, move || {
                let c = c.clone();
                async move { library_call(&c, 0).await }
            })
        };
        if round % 2 == 0 {
            base_conc.push(measure_baseline());
            lib_conc.push(measure_library());
        } else {
            lib_conc.push(measure_library());
            base_conc.push(measure_baseline());
        }
    }

    let b = median(&base_seq);
    let l = median(&lib_seq);
    let r = median(&reask_seq);
    let bt = median(&base_conc.iter().map(|m| m.calls_per_sec).collect::<Vec<_>>());
    let lt = median(&lib_conc.iter().map(|m| m.calls_per_sec).collect::<Vec<_>>());
    let bc = median(&base_conc.iter().map(|m| m.cpu_us_per_call).collect::<Vec<_>>());
    let lc = median(&lib_conc.iter().map(|m| m.cpu_us_per_call).collect::<Vec<_>>());

    println!(
        "client CPU per call, loopback server; medians of {rounds} rounds of {seq_calls} sequential calls \
         and {conc_rounds} rounds of {conc_calls} calls over 64 tasks"
    );
    println!("{:<44} {:>12} {:>12}", "", "baseline", "instructor");
    println!("{:<44} {:>10.1}µs {:>10.1}µs", "sequential, CPU per call", b, l);
    println!("{:<44} {:>10.1}µs {:>10.1}µs", "64 concurrent, CPU per call", bc, lc);
    println!("{:<44} {:>10.0}/s {:>10.0}/s", "64 concurrent, throughput", bt, lt);
    println!("{:<44} {:>12} {:>10.1}µs", "sequential, call with one re-ask", "", r);
    println!();
    report("CPU per call (sequential) vs baseline", l / b, "<=", 1.15);
    report("CPU per call (64 concurrent) vs baseline", lc / bc, "<=", 1.15);
    report("throughput (64 concurrent) vs baseline", lt / bt, ">=", 0.9);
    report("one-re-ask call vs plain call", r / l, "<=", 2.3);
}

fn report(what: &str, ratio: f64, op: &str, target: f64) {
    let ok = if op == "<=" { ratio <= target } else { ratio >= target };
    println!("{what:<44} {ratio:>6.2}×  (target {op} {target}) {}", if ok { "ok" } else { "MISSED" });
}

fn library_client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .api_key("sk-bench")
        .mode(Mode::Tools)
        .retry_policy(RetryPolicy::default().max_retries(0))
        .build()
        .expect("client")
}

async fn library_call(client: &Client, max_retries: u32) {
    let request = ChatRequest::new(MODEL).system(SYSTEM).user(USER).max_retries(max_retries);
    let user: UserDetails = client.chat().create(request).await.expect("library call");
    std::hint::black_box(user);
}

/// What a careful user writes by hand: typed request with borrowed parts, one reqwest call,
/// typed decoding of the reply and of the tool arguments.
struct Baseline {
    http: reqwest::Client,
    url: String,
    tools: Value,
    tool_choice: Value,
}

#[derive(Serialize)]
struct Req<'a> {
    model: &'a str,
    messages: [Msg<'a>; 2],
    tools: &'a Value,
    tool_choice: &'a Value,
}

#[derive(Serialize)]
struct Msg<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Resp {
    choices: Vec<RespChoice>,
}

#[derive(Deserialize)]
struct RespChoice {
    message: RespMessage,
}

#[derive(Deserialize)]
struct RespMessage {
    tool_calls: Vec<RespToolCall>,
}

#[derive(Deserialize)]
struct RespToolCall {
    function: RespFunction,
}

#[derive(Deserialize)]
struct RespFunction {
    arguments: String,
}

impl Baseline {
    fn new(url: &str) -> Self {
        let schema = serde_json::to_value(schemars::schema_for!(UserDetails)).expect("schema");
        Baseline {
            http: reqwest::Client::new(),
            url: format!("{url}/chat/completions"),
            tools: serde_json::json!([{"type": "function", "function": {"name": "UserDetails", "description": "Correctly extracted `UserDetails`", "parameters": schema}}]),
            tool_choice: serde_json::json!({"type": "function", "function": {"name": "UserDetails"}}),
        }
    }

    async fn call(&self) {
        let req = Req {
            model: MODEL,
            messages: [Msg { role: "system", content: SYSTEM }, Msg { role: "user", content: USER }],
            tools: &self.tools,
            tool_choice: &self.tool_choice,
        };
        let body = serde_json::to_vec(&req).expect("encode");
        let response = self
            .http
            .post(&self.url)
            .bearer_auth("sk-bench")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let bytes = response.bytes().await.expect("body");
        let resp: Resp = serde_json::from_slice(&bytes).expect("completion");
        let user: UserDetails =
            serde_json::from_str(&resp.choices[0].message.tool_calls[0].function.arguments).expect("user");
        std::hint::black_box(user);
    }
}

struct Concurrent {
    calls_per_sec: f64,
    cpu_us_per_call: f64,
}

fn concurrent<F, Fut>(rt: &tokio::runtime::Runtime, calls: usize, make: F) -> Concurrent
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    const TASKS: usize = 64;
    let make = Arc::new(make);
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    rt.block_on(async {
        let mut handles = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let make = Arc::clone(&make);
            handles.push(tokio::spawn(async move {
                for _ in 0..calls / TASKS {
                    make().await;
                }
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
    });
    let wall = t0.elapsed();
    let cpu = process_cpu() - cpu0;
    let done = (calls / TASKS * TASKS) as f64;
    Concurrent { calls_per_sec: done / wall.as_secs_f64(), cpu_us_per_call: cpu.as_secs_f64() * 1e6 / done }
}

fn cpu_per_call(calls: usize, f: impl FnOnce()) -> f64 {
    let cpu0 = process_cpu();
    f();
    (process_cpu() - cpu0).as_secs_f64() * 1e6 / calls as f64
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The loopback server, in a child process so its CPU is not counted.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(alternate: bool) -> Server {
        let exe = std::env::current_exe().expect("bench path");
        let mut child = Command::new(exe)
            .args(["--serve", if alternate { "alternate" } else { "plain" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("url");
        Server { child, url: line.trim().to_owned() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        self.child.wait().ok();
    }
}

/// Child side: answer until stdin closes. `alternate` answers invalid, valid, invalid, ...
fn serve(alternate: bool) {
    let server = TestServer::start_with_workers(1);
    server.record(false);
    if alternate {
        server.set_cycle(vec![Reply::tool_call("UserDetails", INVALID), Reply::tool_call("UserDetails", VALID)]);
    } else {
        server.set_fallback(Reply::tool_call("UserDetails", VALID));
    }
    println!("{}", server.url());
    std::io::stdout().flush().ok();
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).ok();
}
