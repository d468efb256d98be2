//! The `instructor` binary against the loopback server: stdout holds only the value, exit codes
//! say what happened, and bad input gets one clear line on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use instructor_testserver::{Reply, TestServer};
use serde_json::Value;

const JASON: &str = r#"{"name":"Jason","age":20}"#;

fn user_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas/user.json")
}

/// The binary with a clean environment: no provider keys leak in from the machine.
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

fn extract(server: &TestServer, mode: &str) -> Command {
    let mut cmd = instructor();
    cmd.args(["extract", "--base-url", &server.url(), "--model", "test-model", "--mode", mode, "--schema"])
        .arg(user_schema());
    cmd
}

#[test]
fn prints_exactly_the_value() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let (code, stdout, stderr) =
        run(extract(&server, "json-schema").arg(r#"Extract the following entities: "Jason is 20""#));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{JASON}\n"));
    let body = &server.requests()[0].body;
    assert_eq!(body["messages"][1]["content"], r#"Extract the following entities: "Jason is 20""#);
    assert!(body["messages"][0]["content"].as_str().unwrap_or("").starts_with("You are a world class extractor"));
    assert_eq!(body["response_format"]["schema"]["title"], "UserDetails");
}

#[test]
fn stream_prints_partials_then_the_value_as_ndjson() {
    for mode in ["json-schema", "tools", "md-json"] {
        let server = TestServer::start();
        server.push(match mode {
            "tools" => Reply::stream_tool_calls(&[("UserDetails", JASON)], 3),
            "md-json" => Reply::stream_text(&format!("```json\n{JASON}\n```"), 2),
            _ => Reply::stream_text(JASON, 1),
        });
        let (code, stdout, stderr) =
            run(extract(&server, mode).args(["--stream", "--stream-interval", "0", "Jason is 20"]));
        assert_eq!(code, 0, "{mode}: {stderr}");
        let lines: Vec<Value> =
            stdout.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON value")).collect();
        assert!(lines.len() > 3, "{mode}: {stdout}");
        assert_eq!(lines.last(), Some(&serde_json::json!({"name": "Jason", "age": 20})), "{mode}");
        assert_eq!(lines[0], serde_json::json!({}), "{mode}: the first partial is the empty object");
        assert!(lines.iter().any(|l| l == &serde_json::json!({"name": "Ja"})) || mode != "json-schema", "{stdout}");
        assert_eq!(server.requests()[0].body["stream"], true);
    }
}

/// Every line of a `--stream` output is a prefix snapshot of the final value.
fn assert_prefix_snapshots(stdout: &str, last: &Value) {
    fn prefix(partial: &Value, full: &Value) -> bool {
        match (partial, full) {
            (Value::Object(p), Value::Object(f)) => p.iter().all(|(k, v)| f.get(k).is_some_and(|fv| prefix(v, fv))),
            (Value::Array(p), Value::Array(f)) => p.len() <= f.len() && p.iter().zip(f).all(|(a, b)| prefix(a, b)),
            (Value::String(p), Value::String(f)) => f.starts_with(p.as_str()),
            (p, f) => p == f,
        }
    }
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON value a line")).collect();
    assert_eq!(lines.last(), Some(last), "the final value is always printed");
    for line in &lines {
        assert!(prefix(line, last), "{line} is not a prefix of {last}");
    }
}

#[test]
fn stream_output_is_coalesced_by_time() {
    let list: Vec<Value> = (0..40).map(|i| serde_json::json!({"name": format!("User {i}"), "age": 20 + i})).collect();
    let text = serde_json::json!({"value": list}).to_string();
    let dir = std::env::temp_dir().join(format!("instructor-cli-coalesce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let schema = dir.join("list.json");
    let list_schema = serde_json::json!({"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}});
    std::fs::write(&schema, list_schema.to_string()).expect("schema");
    let final_value = Value::Array(list);
    // Fast: the whole reply at once; at least the final value, far fewer lines than changes.
    let server = TestServer::start();
    server.push(Reply::stream_text(&text, 2));
    let (code, fast, stderr) = run(instructor()
        .args(["extract", "--base-url", &server.url(), "--model", "m", "--mode", "json", "--stream", "--schema"])
        .arg(&schema)
        .arg("x"));
    assert_eq!(code, 0, "{stderr}");
    assert_prefix_snapshots(&fast, &final_value);
    assert!(fast.lines().count() < 10, "a fast stream printed {} lines", fast.lines().count());
    // Slow: 40 ms between pieces and a 50 ms interval: several snapshots as the reply grows.
    let server = TestServer::start();
    server.push(Reply::stream_text(&text, 100).frame_delay(std::time::Duration::from_millis(40)));
    let (code, slow, stderr) = run(instructor()
        .args(["extract", "--base-url", &server.url(), "--model", "m", "--mode", "json", "--stream"])
        .args(["--stream-interval", "50", "--schema"])
        .arg(&schema)
        .arg("x"));
    assert_eq!(code, 0, "{stderr}");
    assert_prefix_snapshots(&slow, &final_value);
    assert!(slow.lines().count() >= 5, "a slow stream printed {} lines:\n{slow}", slow.lines().count());
}

#[test]
fn stream_iter_prints_one_line_per_item() {
    let server = TestServer::start();
    let people = r#"{"value": [{"name":"Jason","age":20}, {"name":"Ann","age":"31"}, {"name":"Bo","age":-1}, {"name":"Cy","age":40}]}"#;
    server.push(Reply::stream_text(people, 4));
    let (code, stdout, stderr) =
        run(extract(&server, "json").args(["--stream", "--iter", "Jason is 20, Ann 31, Cy 40"]));
    assert_eq!(
        stdout, "{\"name\":\"Jason\",\"age\":20}\n{\"name\":\"Ann\",\"age\":31}\n{\"name\":\"Cy\",\"age\":40}\n",
        "the string \"31\" is repaired; the negative age is left out"
    );
    assert_eq!(code, 3, "an invalid item makes the exit status 3: {stderr}");
    assert!(stderr.contains("[2]"), "the invalid item is named: {stderr}");
    let body = &server.requests()[0].body;
    assert_eq!(body["response_format"], serde_json::json!({"type": "json_object"}));
    // --iter without --stream is a usage error.
    let (code, _, stderr) = run(extract(&server, "json").args(["--iter", "x"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn reads_text_from_stdin() {
    let server = TestServer::start();
    server.push(Reply::tool_call("UserDetails", JASON));
    let mut child = extract(&server, "tools")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"Jason is 20").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{JASON}\n"));
    assert_eq!(server.requests()[0].body["messages"][1]["content"], "Jason is 20");
}

#[test]
fn every_mode_works_from_the_command_line() {
    for mode in ["tools", "tools-strict", "json", "json-schema", "structured-outputs", "md-json"] {
        let server = TestServer::start();
        if mode.starts_with("tools") {
            server.push(Reply::tool_call("UserDetails", JASON));
        } else {
            server.push(Reply::text(&format!("```json\n{JASON}\n```")));
        }
        let (code, stdout, stderr) = run(extract(&server, mode).arg("Jason is 20"));
        assert_eq!((code, stdout.as_str()), (0, format!("{JASON}\n").as_str()), "{mode}: {stderr}");
    }
}

#[test]
fn parallel_tools_prints_an_array() {
    let server = TestServer::start();
    server.push(Reply::tool_calls(&[("UserDetails", JASON), ("UserDetails", r#"{"name":"Ann","age":31}"#)]));
    let dir = tempdir();
    let schema = dir.join("users.json");
    std::fs::write(
        &schema,
        format!(r#"{{"type":"array","items":{}}}"#, std::fs::read_to_string(user_schema()).expect("schema")),
    )
    .expect("write");
    let (code, stdout, stderr) = run(instructor()
        .args(["extract", "--base-url", &server.url(), "--model", "m", "--mode", "parallel-tools", "--schema"])
        .arg(&schema)
        .arg("Jason is 20, Ann is 31"));
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(value, serde_json::json!([{"name":"Jason","age":20},{"name":"Ann","age":31}]));
    assert_eq!(server.requests()[0].body["tools"][0]["function"]["name"], "UserDetails");

    // A schema for one item means a list of them, one call each.
    server.push(Reply::tool_calls(&[("UserDetails", JASON), ("UserDetails", r#"{"name":"Ann","age":31}"#)]));
    let (code, stdout, stderr) = run(extract(&server, "parallel-tools").arg("Jason is 20, Ann is 31"));
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(value, serde_json::json!([{"name":"Jason","age":20},{"name":"Ann","age":31}]));
    assert_eq!(server.requests()[1].body["tools"][0]["function"]["name"], "UserDetails");
}

#[test]
fn schema_violations_are_reasked_then_exit_3() {
    let server = TestServer::start();
    server.push(Reply::text(r#"{"name":"Jason","age":-4}"#));
    server.push(Reply::text(r#"{"name":"Jason"}"#));
    // ("20" for an integer would be repaired; "twenty" cannot be.)
    server.push(Reply::text(r#"{"name":"Jason","age":"twenty"}"#));
    let (code, stdout, stderr) = run(extract(&server, "json").args(["--max-retries", "2", "Jason is 20"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(server.requests().len(), 3, "--max-retries 2 means 3 requests");
    assert!(stderr.contains("no valid answer after 3 attempts"), "{stderr}");
    assert!(stderr.contains("age"), "names the field: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let reask = server.requests()[1].body["messages"][3]["content"].as_str().unwrap_or("").to_owned();
    assert!(reask.contains("age: -4 is less than the minimum of 0"), "{reask}");
}

#[test]
fn provider_errors_exit_4_without_retrying_401() {
    let server = TestServer::start();
    server.push(Reply::error(401, "Invalid API key"));
    let (code, stdout, stderr) = run(extract(&server, "json")
        .arg("Jason is 20")
        .env("MY_KEY", "sk-cli-secret")
        .args(["--api-key-env", "MY_KEY"]));
    assert_eq!(code, 4);
    assert!(stdout.is_empty());
    assert!(stderr.contains("401") && stderr.contains("Invalid API key"), "{stderr}");
    assert!(!stderr.contains("sk-cli-secret"));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer sk-cli-secret"));
}

#[test]
fn timeouts_exit_4() {
    let server = TestServer::start();
    server.set_fallback(Reply::text(JASON).delay(std::time::Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(extract(&server, "json").args(["--timeout", "0.2", "Jason is 20"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let server = TestServer::start();
    let dir = tempdir();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "{ nope").expect("write");
    let bad_schema = dir.join("bad.json");
    std::fs::write(&bad_schema, r#"{"type": "strnig"}"#).expect("write");
    let url = server.url();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--schema".into(), "/no/such/file.json".into(), "x".into()], "cannot read schema"),
        (vec!["--schema".into(), not_json.display().to_string(), "x".into()], "is not JSON"),
        (vec!["--schema".into(), bad_schema.display().to_string(), "x".into()], "not a valid JSON Schema"),
        (vec!["--schema".into(), user_schema().display().to_string(), "   ".into()], "no text"),
        (vec!["--schema".into(), user_schema().display().to_string()], "no text"),
        (
            vec!["--schema".into(), user_schema().display().to_string(), "--mode".into(), "xml".into(), "x".into()],
            "unknown mode",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--provider".into(),
                "nope".into(),
                "x".into(),
            ],
            "unknown provider",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--provider".into(),
                "groq".into(),
                "x".into(),
            ],
            "GROQ_API_KEY is not set",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--model-path".into(),
                "/no/such/model.gguf".into(),
                "x".into(),
            ],
            "/no/such/model.gguf",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--model-path".into(),
                not_json.display().to_string(),
                "x".into(),
            ],
            "not a GGUF model",
        ),
        (
            vec!["--schema".into(), user_schema().display().to_string(), "--base-url".into(), url.clone(), "x".into()],
            "--model is required",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--base-url".into(),
                "ftp://x".into(),
                "--model".into(),
                "m".into(),
                "x".into(),
            ],
            "base URL",
        ),
        (
            vec![
                "--schema".into(),
                user_schema().display().to_string(),
                "--base-url".into(),
                url.clone(),
                "--model".into(),
                "m".into(),
                "--timeout=0".into(),
                "x".into(),
            ],
            "--timeout",
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = run(instructor().arg("extract").args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in {stderr:?}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    }
    assert!(server.requests().is_empty(), "bad input sends nothing");
}

#[test]
fn provider_model_strings_pick_the_provider() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    // `anyscale/<model>` picks the Anyscale preset (JsonSchema mode, ANYSCALE_API_KEY); the
    // base-URL variable points it at the loopback server.
    let (code, stdout, stderr) = run(instructor()
        .args(["extract", "--model", "anyscale/mistralai/Mixtral-8x7B-Instruct-v0.1", "--schema"])
        .arg(user_schema())
        .arg("Jason is 20")
        .env("ANYSCALE_API_KEY", "esecret_test")
        .env("ANYSCALE_BASE_URL", server.url()));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{JASON}\n"));
    let req = &server.requests()[0];
    assert_eq!(req.body["model"], "mistralai/Mixtral-8x7B-Instruct-v0.1");
    assert_eq!(req.body["response_format"]["type"], "json_object");
    assert_eq!(req.header("authorization"), Some("Bearer esecret_test"));
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("instructor-cli-test-{}-{}", std::process::id(), fastrand_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn fastrand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The README's main job: no provider and no key, so the embedded model answers, offline.
#[cfg(feature = "embedded")]
#[test]
fn with_no_key_the_embedded_model_answers() {
    let models = instructor_engine::store::model_dir();
    if !instructor_engine::store::default_model_path().exists() {
        let (code, _, stderr) = run(instructor().args(["model", "pull"]).env("INSTRUCTOR_MODEL_DIR", &models));
        assert_eq!(code, 0, "model pull: {stderr}");
    }
    let (code, stdout, stderr) = run(instructor()
        .args(["extract", "--schema"])
        .arg(user_schema())
        .arg(r#"Extract the following entities: "Jason is 20""#)
        .env("INSTRUCTOR_MODEL_DIR", &models));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{JASON}\n"));

    let (code, stdout, stderr) = run(instructor().args(["model", "list"]).env("INSTRUCTOR_MODEL_DIR", &models));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("SmolLM2-135M-Instruct.Q4_1.gguf"), "{stdout}");
}

#[test]
fn batch_runs_on_the_embedded_model_with_no_key() {
    let models = instructor_engine::store::model_dir();
    if !instructor_engine::store::default_model_path().exists() {
        let (code, _, stderr) = run(instructor().args(["model", "pull"]).env("INSTRUCTOR_MODEL_DIR", &models));
        assert_eq!(code, 0, "model pull: {stderr}");
    }
    let dir = tempdir();
    let input = dir.join("people.jsonl");
    let output = dir.join("out.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"a\",\"text\":\"Extract the following entities: \\\"Jason is 20\\\"\"}\n{\"id\":\"b\",\"text\":\"Extract the following entities: \\\"Ann is 31\\\"\"}\n",
    )
    .expect("input");
    let (code, _, stderr) = run(instructor()
        .args(["batch", "--schema"])
        .arg(user_schema())
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .env("INSTRUCTOR_MODEL_DIR", &models));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 ok, 0 failed"), "the summary: {stderr}");
    let text = std::fs::read_to_string(&output).expect("output");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2);
    let jason = lines.iter().find(|l| l["id"] == "a").expect("record a");
    assert_eq!(jason["value"], serde_json::json!({"name": "Jason", "age": 20}));
}
