//! Media from the command line: `extract --image/--file` on every API that reads it, and
//! `batch --media-field` with some files missing (each such record an `input` error line, the
//! rest extracted, every id exactly once).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use instructor_testserver::{Reply, TestServer};
use serde_json::{Value, json};

const TOTAL: &str = r#"{"total":5.75}"#;

fn media(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../instructor/tests/data/media").join(name)
}

fn receipt_schema(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("receipt.json");
    let schema = json!({"title": "Receipt", "type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]});
    std::fs::write(&path, schema.to_string()).expect("schema");
    path
}

fn tempdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("instructor-cli-media-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn instructor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_instructor"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("KEY", "k");
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
fn extract_with_an_image_on_every_api() {
    let dir = tempdir("extract");
    let schema = receipt_schema(&dir);
    let server = TestServer::start();
    for (provider, base, reply, pointer) in [
        ("openai", server.url(), Reply::text(TOTAL), "/messages/1/content/0/type"),
        ("openai-responses", server.url(), Reply::responses_text(TOTAL), "/input/0/content/0/type"),
        ("anthropic", server.origin(), Reply::anthropic_text(TOTAL), "/messages/0/content/0/type"),
        ("gemini", server.origin(), Reply::gemini_text(TOTAL), "/contents/0/parts/0/inlineData/mimeType"),
    ] {
        server.push(reply);
        let (code, stdout, stderr) = run(instructor()
            .args(["extract", "--provider", provider, "--base-url", &base, "--api-key-env", "KEY", "--model", "m"])
            .args(["--mode", "json", "--schema"])
            .arg(&schema)
            .arg("--image")
            .arg(media("receipt.jpg")));
        assert_eq!(code, 0, "{provider}: {stderr}");
        assert_eq!(stdout, format!("{TOTAL}\n"), "{provider}");
        let body = server.requests().last().expect("a request").body.clone();
        let kind = body.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
        assert!(["image_url", "input_image", "image", "image/jpeg"].contains(&kind), "{provider}: {kind} in {body}");
    }
    // A PDF with --file and a question, on Anthropic.
    server.push(Reply::anthropic_text(TOTAL));
    let (code, _, stderr) = run(instructor()
        .args(["extract", "--provider", "anthropic", "--base-url", &server.origin(), "--api-key-env", "KEY"])
        .args(["--model", "m", "--mode", "json", "--schema"])
        .arg(&schema)
        .arg("--file")
        .arg(media("receipt.pdf"))
        .arg("What is the total?"));
    assert_eq!(code, 0, "{stderr}");
    let body = server.requests().last().expect("a request").body.clone();
    assert_eq!(body["messages"][0]["content"][0]["type"], "document");
    assert_eq!(body["messages"][0]["content"][1]["text"], "What is the total?");
    // Audio where the API reads none, a missing file, and a text file passed as an image.
    for (args, expect) in [
        (
            vec!["--provider", "anthropic", "--file", media("tone.wav").to_str().unwrap_or_default()],
            "does not take audio",
        ),
        (
            vec!["--provider", "anthropic", "--image", "/nonexistent/receipt.png"],
            "cannot read /nonexistent/receipt.png",
        ),
        (vec!["--provider", "anthropic", "--image", schema.to_str().unwrap_or_default()], "not a supported image"),
    ] {
        let served = server.served();
        let (code, _, stderr) = run(instructor()
            .arg("extract")
            .args(&args)
            .args([
                "--base-url",
                &server.origin(),
                "--api-key-env",
                "KEY",
                "--model",
                "m",
                "--mode",
                "json",
                "--schema",
            ])
            .arg(&schema)
            .arg("x"));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert_eq!(server.served(), served, "nothing sent");
    }
}

#[test]
fn batch_media_field_with_missing_files() {
    let dir = tempdir("batch");
    let schema = receipt_schema(&dir);
    for name in ["receipt.png", "receipt.jpg", "receipt.pdf"] {
        std::fs::copy(media(name), dir.join(name)).expect("copy");
    }
    // 200 records: every tenth names a file that does not exist; the rest rotate over the
    // three real ones, by a path relative to the input file.
    let lines: Vec<String> = (0..200)
        .map(|i| {
            let file = if i % 10 == 3 {
                format!("missing-{i}.png")
            } else {
                ["receipt.png", "receipt.jpg", "receipt.pdf"][i % 3].to_owned()
            };
            json!({"id": format!("r{i}"), "scan": file}).to_string()
        })
        .collect();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("input");
    let output = dir.join("out.jsonl");
    let server = TestServer::start();
    server.record(false);
    server.set_fallback(Reply::anthropic_text(TOTAL));
    let (code, _, stderr) = run(instructor()
        .args([
            "batch",
            "--provider",
            "anthropic",
            "--base-url",
            &server.origin(),
            "--api-key-env",
            "KEY",
            "--model",
            "m",
        ])
        .args(["--mode", "json", "--quiet", "--media-field", "scan", "--schema"])
        .arg(&schema)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output));
    assert_eq!(code, 3, "some records failed: {stderr}");
    let text = std::fs::read_to_string(&output).expect("output");
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(by_id.insert(v["id"].as_str().expect("id").to_owned(), v).is_none(), "an id twice");
    }
    assert_eq!(by_id.len(), 200);
    for i in 0..200 {
        let line = &by_id[&format!("r{i}")];
        if i % 10 == 3 {
            assert_eq!(line["error"]["kind"], "input", "{line}");
            assert!(
                line["error"]["message"].as_str().is_some_and(|m| m.contains(&format!("missing-{i}.png"))),
                "{line}"
            );
        } else {
            assert_eq!(line["value"], json!({"total": 5.75}), "{line}");
        }
    }
    assert_eq!(server.served(), 180);
}
