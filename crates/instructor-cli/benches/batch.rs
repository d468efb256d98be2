//! `instructor batch` throughput: 10,000 records against a loopback server that answers each
//! request after 50 ms, at concurrency 64 and 256, end to end (the real binary, reading JSON lines
//! and writing results). The ideal is concurrency / 50 ms.
//!
//! ```sh
//! cargo bench -p instructor-cli --bench batch
//! ```
//!
//! Targets: ≥ 90% of ideal at 64 (≥ 1,150 records/s) and ≥ 3,000 records/s at 256. CPU per
//! record is the batch process's user + system time over the records.
#![allow(unsafe_code)] // getrusage, for the child's CPU time

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use instructor_testserver::{Reply, TestServer};

const LATENCY: Duration = Duration::from_millis(50);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        let server = TestServer::start_with_workers(1);
        server.record(false);
        server.set_fallback(Reply::text(r#"{"name":"Jason","age":20}"#).delay(LATENCY));
        println!("{}", server.url());
        std::thread::sleep(Duration::from_secs(3600));
        return;
    }
    let records: usize = std::env::var("BENCH_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let server = Server::spawn();
    let dir = std::env::temp_dir().join(format!("instructor-bench-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("records.jsonl");
    let lines: Vec<String> = (0..records)
        .map(|i| {
            serde_json::json!({"id": format!("r{i}"), "text": format!("Person {i} is {} years old", i % 90)})
                .to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("input");
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas/user.json");

    println!(
        "instructor batch: {records} records, loopback server answering after {LATENCY:?}, server in another process"
    );
    let mut results = Vec::new();
    for concurrency in [64usize, 256] {
        let output = dir.join(format!("out-{concurrency}.jsonl"));
        std::fs::remove_file(&output).ok();
        let cpu_before = children_cpu();
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_instructor"))
            .args(["batch", "--base-url", &server.url, "--model", "bench", "--mode", "json", "--quiet"])
            .args(["--concurrency", &concurrency.to_string(), "--schema"])
            .arg(&schema)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .env_clear()
            .status()
            .expect("instructor batch runs");
        let wall = started.elapsed();
        let cpu = children_cpu() - cpu_before;
        assert!(status.success(), "batch failed: {status}");
        let written = std::fs::read_to_string(&output).expect("output").lines().count();
        assert_eq!(written, records, "every record written once");
        let rate = records as f64 / wall.as_secs_f64();
        let ideal = concurrency as f64 / LATENCY.as_secs_f64();
        let cpu_us = cpu.as_secs_f64() * 1e6 / records as f64;
        println!(
            "  concurrency {concurrency:>3}: {wall:>8.2?} wall, {rate:>7.0} records/s = {:>5.1}% of ideal {ideal:.0}/s, \
             CPU {cpu_us:.0} µs/record",
            100.0 * rate / ideal
        );
        results.push((concurrency, rate, ideal));
    }
    println!();
    for (concurrency, rate, ideal) in results {
        let (target, ok) = if concurrency == 64 {
            ("≥ 90% of ideal (≥ 1,150/s)", rate >= 0.9 * ideal)
        } else {
            ("≥ 3,000/s", rate >= 3_000.0)
        };
        println!(
            "  concurrency {concurrency}: {rate:.0} records/s, target {target}: {}",
            if ok { "ok" } else { "MISSED" }
        );
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
    fn spawn() -> Server {
        let exe = std::env::current_exe().expect("bench binary");
        let mut child = Command::new(exe).arg("--serve").stdout(Stdio::piped()).spawn().expect("server process");
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
