//! `instructor batch` against the loopback server: faults mixed in, resume, kill -9, retry of
//! failed records, CSV and templates, and the shared 429 backoff.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use instructor_testserver::{Reply, TestServer};
use serde_json::{Value, json};

const JASON: &str = r#"{"name":"Jason","age":20}"#;

fn user_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas/user.json")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("instructor-batch-{name}-{}-{}", std::process::id(), fastrand()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn fastrand() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos().into())
}

fn write_jsonl(path: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| json!({"id": format!("r{i}"), "text": format!("Person {i} is {} years old", i % 90)}).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").expect("input");
}

fn batch(server: &TestServer, input: &Path, output: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_instructor"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.args(["batch", "--base-url", &server.url(), "--model", "test-model", "--mode", "json", "--quiet", "--schema"])
        .arg(user_schema())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .stdin(Stdio::null());
    cmd
}

/// Every output line parsed, with the checks that hold after any run: each line whole, each id
/// once, each line a value or an error.
fn read_output(path: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(path).expect("output");
    assert!(text.is_empty() || text.ends_with('\n'), "no torn last line");
    let mut by_id = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("a torn or bad line {line:?}: {e}"));
        let id = v["id"].as_str().expect("an id").to_owned();
        assert!(v.get("value").is_some() != v.get("error").is_some(), "value xor error: {line}");
        assert!(by_id.insert(id.clone(), v).is_none(), "id {id} written twice");
    }
    by_id
}

#[test]
fn a_thousand_records_with_faults_each_id_exactly_once() {
    let dir = tempdir("faults");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 1_000);
    let server = TestServer::start();
    server.record(false);
    server.set_cycle(vec![
        Reply::text(JASON),
        Reply::error(429, "slow down").header("retry-after-ms", "20"),
        Reply::text(JASON),
        Reply::error(500, "boom"),
        Reply::text(r#"{"name":"Jason","age":-3}"#), // invalid: re-asked
        Reply::text(JASON),
        Reply::text("no json at all"),                    // invalid
        Reply::text(JASON).delay(Duration::from_secs(3)), // a timeout, retried
        Reply::text(JASON),
        Reply::text(r#"{"name":"Jason"}"#),
    ]);
    let started = Instant::now();
    let out = batch(&server, &input, &output)
        .args(["--concurrency", "32", "--timeout", "1", "--max-retries", "1"])
        .output()
        .expect("runs");
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 1_000, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let ok = by_id.values().filter(|v| v.get("value").is_some()).count();
    assert!(ok > 500, "{ok} values");
    for v in by_id.values() {
        if let Some(value) = v.get("value") {
            assert_eq!(value, &json!({"name": "Jason", "age": 20}));
            assert!(v["attempts"].as_u64().is_some_and(|a| a >= 1));
            assert!(v["usage"]["total_tokens"].as_u64().is_some_and(|t| t >= 15));
        } else {
            let kind = v["error"]["kind"].as_str().expect("kind");
            assert!(["invalid", "status", "timeout", "provider"].contains(&kind), "{v}");
        }
    }
    let failed = by_id.len() - ok;
    assert_eq!(out.status.code(), Some(if failed > 0 { 3 } else { 0 }));
    eprintln!("1,000 records with faults: {ok} ok, {failed} failed in {:.1?}", started.elapsed());
}

#[test]
fn rerunning_resumes_and_never_writes_an_id_twice() {
    let dir = tempdir("resume");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 20);
    // An earlier run was killed mid-write: 5 whole lines and a torn one.
    let whole: Vec<String> = (0..5)
        .map(|i| json!({"id": format!("r{i}"), "value": {"name": "Earlier", "age": 1}, "attempts": 1}).to_string())
        .collect();
    std::fs::write(&output, whole.join("\n") + "\n" + r#"{"id":"r5","val"#).expect("output");
    let server = TestServer::start();
    server.set_fallback(Reply::text(JASON));
    let out = batch(&server, &input, &output).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 20);
    assert_eq!(by_id["r0"]["value"]["name"], "Earlier", "done records are kept");
    assert_eq!(by_id["r5"]["value"]["name"], "Jason", "the torn record is redone");
    assert_eq!(server.served(), 15);
    // A third run has nothing left to do.
    let out = batch(&server, &input, &output).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(server.served(), 15, "no request for finished records");
    assert_eq!(read_output(&output).len(), 20);
}

#[test]
fn retry_failed_redoes_only_the_error_lines() {
    let dir = tempdir("retry");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 10);
    let server = TestServer::start();
    server.set_fallback(Reply::error(400, "bad request"));
    let out = batch(&server, &input, &output).output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(read_output(&output).values().all(|v| v["error"]["kind"] == "status"));
    server.set_fallback(Reply::text(JASON));
    // Without --retry-failed, failed records count as done.
    batch(&server, &input, &output).output().expect("runs");
    assert_eq!(server.served(), 10);
    let out = batch(&server, &input, &output).arg("--retry-failed").output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 10);
    assert!(by_id.values().all(|v| v["value"]["name"] == "Jason"));
    assert_eq!(server.served(), 20);
}

#[test]
fn killed_twice_then_resumed_every_id_once_and_no_torn_line() {
    let dir = tempdir("kill");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 2_000);
    let server = TestServer::start();
    server.record(false);
    server.set_fallback(Reply::text(JASON).delay(Duration::from_millis(20)));
    let mut seed = fastrand();
    for round in 0..2 {
        let mut child =
            batch(&server, &input, &output).args(["--concurrency", "8"]).stderr(Stdio::null()).spawn().expect("starts");
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let wait = Duration::from_millis(300 + (seed >> 33) % 1500);
        std::thread::sleep(wait);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        // The file may end torn here; the next run must cope.
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        eprintln!("kill {round} after {wait:?}: {} lines so far", text.lines().count());
    }
    let out = batch(&server, &input, &output).args(["--concurrency", "32"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 2_000);
    assert!(by_id.values().all(|v| v["value"]["age"] == 20));
}

#[test]
fn csv_input_with_a_template_and_an_id_field() {
    let dir = tempdir("csv");
    let (input, output) = (dir.join("people.csv"), dir.join("out.jsonl"));
    std::fs::write(&input, "key,who,age\nk1,Jason,20\nk2,\"Ann, Jr.\",31\n,NoKey,5\n").expect("csv");
    let server = TestServer::start();
    server.set_fallback(Reply::text(JASON));
    let out = batch(&server, &input, &output)
        .args(["--id-field", "key", "--prompt", "{{ who }} is {{ age }} years old"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    let mut ids: Vec<&String> = by_id.keys().collect();
    ids.sort();
    assert_eq!(ids, ["3", "k1", "k2"], "a record without the id field is numbered");
    let prompts: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert!(prompts.contains(&"Ann, Jr. is 31 years old".to_owned()), "{prompts:?}");
    // A record the template cannot render is an error line, not a crash.
    let out2 = dir.join("out2.jsonl");
    let out = batch(&server, &input, &out2).args(["--prompt", "{{ missing_field }}"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(read_output(&out2).values().all(|v| v["error"]["kind"] == "input"));
}

#[test]
fn a_429_slows_every_worker() {
    let dir = tempdir("429");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 6);
    let server = TestServer::start();
    server.push(Reply::error(429, "rate limited").header("retry-after", "1"));
    server.set_fallback(Reply::text(JASON).delay(Duration::from_millis(50)));
    let out = batch(&server, &input, &output).args(["--concurrency", "2"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = server.requests();
    assert_eq!(requests.len(), 7);
    let limited_at = requests[0].received;
    // Besides the one already in flight beside it, nothing is sent during the pause.
    let during_pause =
        requests[1..].iter().filter(|r| r.received.duration_since(limited_at) < Duration::from_millis(900)).count();
    assert!(during_pause <= 1, "{during_pause} requests went out during the pause");
}

#[test]
fn bad_invocations_exit_2() {
    let server = TestServer::start();
    let dir = tempdir("bad");
    let out = batch(&server, &dir.join("missing.jsonl"), &dir.join("o.jsonl")).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read input"), "{stderr}");
    // Bad lines in the input are error lines for their records; the rest go on.
    let input = dir.join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\",\"text\":\"Jason is 20\"}\nnot json\n[1]\n{\"id\":\"b\",\"text\":\"Ann\"}\n")
        .expect("input");
    server.set_fallback(Reply::text(JASON));
    let output = dir.join("o.jsonl");
    let out = batch(&server, &input, &output).output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 4);
    assert_eq!(by_id["2"]["error"]["kind"], "input");
    assert_eq!(by_id["3"]["error"]["kind"], "input");
    assert_eq!(by_id["b"]["value"]["name"], "Jason");
}

#[test]
fn remote_batches_go_through_files_and_batches_and_every_line_is_validated() {
    let dir = tempdir("remote");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 4);
    let server = TestServer::start();
    let result = |id: &str, content: &str| {
        json!({"id": format!("batch_req_{id}"), "custom_id": id, "response": {"status_code": 200, "request_id": "x", "body": {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}}, "error": null})
        .to_string()
    };
    let failed = json!({"custom_id": "r3", "response": {"status_code": 500, "body": {"error": {"message": "server error"}}}, "error": null});
    // r2's reply does not validate; r3 failed at the provider; r0 and r1 are fine (r1 after repair).
    let output_file = [
        result("r0", JASON),
        result("r1", "{'name': 'Ann', 'age': '31'}"),
        result("r2", r#"{"name":"Bo"}"#),
        failed.to_string(),
    ]
    .join("\n");
    server.push(Reply::json(200, &json!({"id": "file-in", "object": "file", "purpose": "batch"})));
    server.push(Reply::json(200, &json!({"id": "batch_1", "object": "batch", "status": "validating"})));
    server.push(Reply::json(
        200,
        &json!({"id": "batch_1", "status": "in_progress", "request_counts": {"total": 4, "completed": 1, "failed": 0}}),
    ));
    server.push(Reply::json(
        200,
        &json!({"id": "batch_1", "status": "completed", "output_file_id": "file-out", "error_file_id": null}),
    ));
    server.push(Reply::raw(200, output_file));
    let out = batch(&server, &input, &output).args(["--remote", "--poll-secs", "0.05"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "two records failed: {}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 4);
    assert_eq!(by_id["r0"]["value"], json!({"name": "Jason", "age": 20}));
    assert_eq!(by_id["r1"]["value"], json!({"name": "Ann", "age": 31}));
    assert_eq!(by_id["r2"]["error"]["kind"], "invalid");
    assert_eq!(by_id["r3"]["error"]["kind"], "status");
    let requests = server.requests();
    let paths: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("POST", "/v1/files"),
            ("POST", "/v1/batches"),
            ("GET", "/v1/batches/batch_1"),
            ("GET", "/v1/batches/batch_1"),
            ("GET", "/v1/files/file-out/content")
        ]
    );
    // The upload is multipart, purpose `batch`, one request line per record, shaped as live.
    let upload = String::from_utf8_lossy(&requests[0].raw_body).into_owned();
    assert!(requests[0].header("content-type").is_some_and(|c| c.starts_with("multipart/form-data; boundary=")));
    assert!(upload.contains("name=\"purpose\"\r\n\r\nbatch\r\n"));
    let lines: Vec<Value> = upload
        .lines()
        .filter(|l| l.starts_with("{\"custom_id\""))
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["url"], "/v1/chat/completions");
    assert_eq!(lines[0]["body"]["response_format"], json!({"type": "json_object"}));
    assert_eq!(requests[1].body["input_file_id"], "file-in");
    assert_eq!(requests[1].body["endpoint"], "/v1/chat/completions");
}
