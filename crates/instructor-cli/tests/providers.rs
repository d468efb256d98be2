//! The `instructor` binary on the native APIs (Anthropic, Gemini, OpenAI's Responses): `extract`
//! with `--provider` or `provider/model`, every flag as on chat completions, `batch` live on
//! each, `batch --remote` through Anthropic's Message Batches, and a batch killed with SIGKILL and
//! resumed on Anthropic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use instructor_testserver::anthropic::{batch_result_line, message};
use instructor_testserver::{Reply, TestServer};
use serde_json::{Value, json};

const JASON: &str = r#"{"name":"Jason","age":20}"#;

fn user_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas/user.json")
}

fn instructor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_instructor"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("the binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn extract_speaks_each_api_natively() {
    // (provider flag or model string, environment, reply, the path the request must take, the
    // header the key goes in)
    type Case = (Vec<String>, Vec<(&'static str, String)>, Reply, &'static str, &'static str);
    let server = TestServer::start();
    let cases: Vec<Case> = vec![
        (
            vec![
                "--provider".into(),
                "anthropic".into(),
                "--base-url".into(),
                server.origin(),
                "--model".into(),
                "claude-test".into(),
            ],
            vec![("ANTHROPIC_API_KEY", "sk-ant-test".into())],
            Reply::anthropic_tool_use("UserDetails", JASON),
            "/v1/messages",
            "x-api-key",
        ),
        (
            vec!["--model".into(), "anthropic/claude-test".into()],
            vec![("ANTHROPIC_API_KEY", "sk-ant-test".into()), ("ANTHROPIC_BASE_URL", server.origin())],
            Reply::anthropic_tool_use("UserDetails", JASON),
            "/v1/messages",
            "x-api-key",
        ),
        (
            vec!["--model".into(), "gemini/gemini-test".into()],
            vec![("GEMINI_API_KEY", "g-test".into()), ("GEMINI_BASE_URL", server.origin())],
            Reply::gemini_text(JASON),
            "/v1beta/models/gemini-test:generateContent",
            "x-goog-api-key",
        ),
        (
            vec!["--model".into(), "google/gemini-test".into()],
            vec![("GOOGLE_API_KEY", "g-test".into()), ("GOOGLE_GEMINI_BASE_URL", server.origin())],
            Reply::gemini_text(JASON),
            "/v1beta/models/gemini-test:generateContent",
            "x-goog-api-key",
        ),
        (
            vec![
                "--provider".into(),
                "openai-responses".into(),
                "--base-url".into(),
                server.url(),
                "--model".into(),
                "gpt-test".into(),
            ],
            vec![("OPENAI_API_KEY", "sk-test".into())],
            Reply::responses_text(JASON),
            "/v1/responses",
            "authorization",
        ),
    ];
    for (i, (args, env, reply, path, key_header)) in cases.into_iter().enumerate() {
        server.push(reply);
        let mut cmd = instructor();
        cmd.arg("extract")
            .args(&args)
            .arg("--schema")
            .arg(user_schema())
            .arg(r#"Extract the following entities: "Jason is 20""#);
        for (name, value) in &env {
            cmd.env(name, value);
        }
        let (code, stdout, stderr) = run(&mut cmd);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert_eq!(stdout, format!("{JASON}\n"), "{args:?}");
        let request = &server.requests()[i];
        assert_eq!(request.path, path, "{args:?}");
        assert!(request.header(key_header).is_some(), "{args:?}: the key in {key_header}");
    }
}

#[test]
fn streaming_and_iterating_on_each_api() {
    let server = TestServer::start();
    let array = format!("[{JASON},{}]", r#"{"name":"Sarah","age":25}"#);
    for (provider, base, reply) in [
        ("anthropic", server.origin(), Reply::anthropic_stream_text(&format!(r#"{{"value":{array}}}"#), 3)),
        ("gemini", server.origin(), Reply::gemini_stream_text(&format!(r#"{{"value":{array}}}"#), 3)),
        ("openai-responses", server.url(), Reply::responses_stream_text(&format!(r#"{{"value":{array}}}"#), 3)),
    ] {
        server.push(reply);
        let (code, stdout, stderr) = run(instructor()
            .args(["extract", "--provider", provider, "--base-url", &base, "--api-key-env", "KEY", "--model", "m"])
            .args(["--mode", "json", "--stream", "--iter", "--schema"])
            .arg(user_schema())
            .arg("Jason is 20, Sarah is 25")
            .env("KEY", "k"));
        assert_eq!(code, 0, "{provider}: {stderr}");
        assert_eq!(stdout, format!("{JASON}\n{}\n", r#"{"name":"Sarah","age":25}"#), "{provider}");
    }
}

#[test]
fn a_mode_the_api_cannot_do_exits_2_before_sending() {
    let server = TestServer::start();
    let (code, _, stderr) = run(instructor()
        .args(["extract", "--provider", "anthropic", "--base-url", &server.origin(), "--mode", "json-schema"])
        .args(["--model", "claude-test", "--schema"])
        .arg(user_schema())
        .arg("Jason is 20")
        .env("ANTHROPIC_API_KEY", "k"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("structured-outputs"), "{stderr}");
    assert!(server.requests().is_empty());
    let (code, _, stderr) =
        run(instructor().args(["extract", "--provider", "anthropic", "--schema"]).arg(user_schema()).arg("x"));
    assert_eq!(code, 2);
    assert!(stderr.contains("ANTHROPIC_API_KEY is not set"), "{stderr}");
}

#[test]
fn a_reply_cut_at_the_token_limit_is_reported_as_cut() {
    let server = TestServer::start();
    let cut = || {
        Reply::anthropic_message(
            vec![json!({"type": "tool_use", "id": "toolu_1", "name": "UserDetails", "input": {"name": "Jas"}})],
            "max_tokens",
        )
    };
    server.push(cut());
    let (code, stdout, stderr) = run(instructor()
        .args(["extract", "--provider", "anthropic", "--base-url", &server.origin(), "--model", "claude-test"])
        .arg("--schema")
        .arg(user_schema())
        .arg("Jason is 20")
        .env("ANTHROPIC_API_KEY", "k"));
    assert_eq!((code, stdout.as_str()), (3, ""), "{stderr}");
    assert!(stderr.contains("token limit"), "{stderr}");
    assert_eq!(server.requests().len(), 1, "a cut reply is not re-asked: the same limit would cut it again");

    let dir = tempdir("cut");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 1);
    server.push(cut());
    let (code, _, stderr) = run(&mut anthropic_batch(&server, &input, &output));
    assert_eq!(code, 3, "{stderr}");
    let lines = read_output(&output);
    assert_eq!(lines["rec 0"]["error"]["kind"], "truncated", "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("instructor-providers-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_jsonl(path: &Path, n: usize) {
    let lines: Vec<String> =
        (0..n).map(|i| json!({"id": format!("rec {i}"), "text": format!("Person {i} is 20")}).to_string()).collect();
    std::fs::write(path, lines.join("\n") + "\n").expect("input");
}

fn read_output(path: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(path).expect("output");
    assert!(text.is_empty() || text.ends_with('\n'), "no torn last line");
    let mut by_id = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("a bad line {line:?}: {e}"));
        let id = v["id"].as_str().expect("an id").to_owned();
        assert!(by_id.insert(id.clone(), v).is_none(), "id {id} written twice");
    }
    by_id
}

fn anthropic_batch(server: &TestServer, input: &Path, output: &Path) -> Command {
    let mut cmd = instructor();
    cmd.args(["batch", "--provider", "anthropic", "--base-url", &server.origin(), "--model", "claude-test", "--quiet"])
        .arg("--schema")
        .arg(user_schema())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .env("ANTHROPIC_API_KEY", "sk-ant-test");
    cmd
}

#[test]
fn batch_live_on_each_api() {
    for (provider, base, reply) in [
        ("anthropic", true, Reply::anthropic_tool_use("UserDetails", JASON)),
        ("gemini", true, Reply::gemini_function_calls(&[("UserDetails", JASON)])),
        ("openai-responses", false, Reply::responses_function_calls(&[("UserDetails", JASON)])),
    ] {
        let dir = tempdir(provider);
        let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
        write_jsonl(&input, 40);
        let server = TestServer::start();
        server.set_fallback(reply);
        let base = if base { server.origin() } else { server.url() };
        let out = instructor()
            .args(["batch", "--provider", provider, "--base-url", &base, "--api-key-env", "KEY", "--model", "m"])
            .args(["--mode", "tools", "--quiet", "--concurrency", "8", "--schema"])
            .arg(user_schema())
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .env("KEY", "k")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{provider}: {}", String::from_utf8_lossy(&out.stderr));
        let by_id = read_output(&output);
        assert_eq!(by_id.len(), 40, "{provider}");
        assert!(
            by_id
                .values()
                .all(|v| v["value"] == json!({"name": "Jason", "age": 20}) && v["usage"]["total_tokens"] == 15)
        );
    }
}

#[test]
fn batch_remote_through_anthropic_message_batches() {
    let dir = tempdir("remote");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 4);
    let server = TestServer::start();
    // r0 is fine; r1 failed at Anthropic; r2 expired; r3's reply does not validate.
    let results = [
        batch_result_line(
            "r0",
            Ok(message(
                vec![
                    json!({"type": "tool_use", "id": "toolu_0", "name": "UserDetails", "input": {"name": "Jason", "age": 20}}),
                ],
                "tool_use",
            )),
        ),
        batch_result_line("r1", Err(("overloaded_error", "Overloaded"))),
        json!({"custom_id": "r2", "result": {"type": "expired"}}).to_string(),
        batch_result_line(
            "r3",
            Ok(message(
                vec![json!({"type": "tool_use", "id": "toolu_0", "name": "UserDetails", "input": {"name": "Bo"}})],
                "tool_use",
            )),
        ),
    ];
    let results_url = format!("{}/v1/messages/batches/msgbatch_1/results", server.origin());
    server.push(Reply::anthropic_batch("msgbatch_1", "in_progress", None));
    server.push(Reply::anthropic_batch("msgbatch_1", "in_progress", None));
    server.push(Reply::anthropic_batch("msgbatch_1", "ended", Some(&results_url)));
    server.push(Reply::raw(200, results.join("\n") + "\n").header("content-type", "application/binary"));
    let out =
        anthropic_batch(&server, &input, &output).args(["--remote", "--poll-secs", "0.05"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 4);
    assert_eq!(by_id["rec 0"]["value"], json!({"name": "Jason", "age": 20}));
    assert_eq!(by_id["rec 1"]["error"]["kind"], "status");
    assert!(by_id["rec 1"]["error"]["message"].as_str().is_some_and(|m| m.contains("Overloaded")));
    assert_eq!(by_id["rec 2"]["error"]["kind"], "status");
    assert_eq!(by_id["rec 3"]["error"]["kind"], "invalid");
    let requests = server.requests();
    let paths: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("POST", "/v1/messages/batches"),
            ("GET", "/v1/messages/batches/msgbatch_1"),
            ("GET", "/v1/messages/batches/msgbatch_1"),
            ("GET", "/v1/messages/batches/msgbatch_1/results"),
        ]
    );
    // Record ids become ids Anthropic accepts; each request is shaped as live.
    let submitted = &requests[0].body["requests"];
    assert_eq!(submitted.as_array().map(Vec::len), Some(4));
    assert_eq!(submitted[0]["custom_id"], "r0");
    assert_eq!(submitted[0]["params"]["tool_choice"], json!({"type": "tool", "name": "UserDetails"}));
    assert!(submitted[0]["params"].get("stream").is_none());
    instructor_testserver::sdk::assert_valid_requests("anthropic-batch", &[requests[0].body.clone()]);
}

#[test]
fn anthropic_batch_killed_twice_then_resumed_every_id_once() {
    let dir = tempdir("kill");
    let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_jsonl(&input, 1_500);
    let server = TestServer::start();
    server.record(false);
    server.set_fallback(Reply::anthropic_tool_use("UserDetails", JASON).delay(Duration::from_millis(20)));
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.subsec_nanos() as u64);
    for round in 0..2 {
        let mut child = anthropic_batch(&server, &input, &output)
            .args(["--concurrency", "8"])
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let wait = Duration::from_millis(300 + (seed >> 33) % 1500);
        std::thread::sleep(wait);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        eprintln!("kill {round} after {wait:?}: {} lines so far", text.lines().count());
    }
    let out = anthropic_batch(&server, &input, &output).args(["--concurrency", "32"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_id = read_output(&output);
    assert_eq!(by_id.len(), 1_500);
    assert!(by_id.values().all(|v| v["value"]["age"] == 20));
}
