//! `instructor extract --stream` end to end: the real binary reading a streamed list of N objects
//! (id, name, email, tags; 4 characters per SSE event, as the library's stream bench) from a
//! loopback server in another process, printing NDJSON snapshots to a file. Its CPU must stay
//! linear in the reply, printing included.
//!
//! ```sh
//! cargo bench -p instructor-cli --bench stream
//! ```
//!
//! Targets: CPU ≤ 1 s at N = 5,000 and N5000/N1000 ≤ 6. The default `--stream-interval` (100 ms)
//! is measured, and every partial printed (`--stream-interval 0`) for comparison.
#![allow(unsafe_code)] // getrusage, for the child's CPU time

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use instructor_testserver::{Reply, TestServer};

fn list(n: usize) -> String {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({"id": i, "name": format!("User {i}"), "email": format!("user{i}@example.com"),
                               "tags": ["a", "b"]})
        })
        .collect();
    serde_json::json!({ "value": items }).to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let n: usize = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        let server = TestServer::start_with_workers(1);
        server.record(false);
        server.set_fallback(Reply::stream_text(&list(n), 4));
        println!("{}", server.url());
        std::thread::sleep(Duration::from_secs(3600));
        return;
    }
    let dir = std::env::temp_dir().join(format!("instructor-bench-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let schema = dir.join("list.json");
    let item = serde_json::json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
        "email": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["id", "name", "email", "tags"]});
    std::fs::write(&schema, serde_json::json!({"type": "array", "items": item}).to_string()).expect("schema");
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let rounds = if quick { 1 } else { 5 };
    println!("instructor extract --stream: a list of N objects, 4 characters per event, server in another process");
    let mut medians = Vec::new();
    for interval in ["100", "0"] {
        for n in [1_000usize, 5_000] {
            if interval == "0" && n == 5_000 && quick {
                continue;
            }
            let server = Server::spawn(n);
            let mut runs = Vec::new();
            let mut lines = 0;
            // The uncoalesced reference is quadratic (minutes at N = 5,000): once is enough.
            let rounds = if interval == "0" { 1 } else { rounds };
            for _ in 0..rounds {
                let out = dir.join("out.ndjson");
                let before = children_cpu();
                let status = Command::new(env!("CARGO_BIN_EXE_instructor"))
                    .args(["extract", "--base-url", &server.url, "--model", "bench", "--mode", "json", "--stream"])
                    .args(["--stream-interval", interval, "--schema"])
                    .arg(&schema)
                    .arg("a list")
                    .env_clear()
                    .stdout(std::fs::File::create(&out).expect("output file"))
                    .status()
                    .expect("instructor runs");
                runs.push((children_cpu() - before).as_secs_f64());
                assert!(status.success(), "extract failed: {status}");
                let text = std::fs::read_to_string(&out).expect("output");
                lines = text.lines().count();
                let last: serde_json::Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
                assert_eq!(last.as_array().map(Vec::len), Some(n), "the final value is the whole list");
            }
            runs.sort_by(f64::total_cmp);
            let median = runs[runs.len() / 2];
            println!(
                "  --stream-interval {interval:>3} ms, N = {n:>5}: CPU {:>8.1} ms (median of {rounds}), {lines} lines",
                median * 1e3
            );
            medians.push((interval, n, median));
        }
    }
    let cpu = |interval: &str, n: usize| medians.iter().find(|m| m.0 == interval && m.1 == n).map(|m| m.2);
    if let (Some(small), Some(large)) = (cpu("100", 1_000), cpu("100", 5_000)) {
        println!();
        println!(
            "  CPU at N = 5,000: {:.0} ms, target ≤ 1,000 ms: {}",
            large * 1e3,
            if large <= 1.0 { "ok" } else { "MISSED" }
        );
        let ratio = large / small;
        println!("  N5000 / N1000: {ratio:.2}, target ≤ 6: {}", if ratio <= 6.0 { "ok" } else { "MISSED" });
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn children_cpu() -> Duration {
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(n: usize) -> Server {
        let exe = std::env::current_exe().expect("bench binary");
        let mut child =
            Command::new(exe).args(["--serve", &n.to_string()]).stdout(Stdio::piped()).spawn().expect("server process");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut url).expect("server url");
        Server { child, url: url.trim().to_owned() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
