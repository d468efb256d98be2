//! The official Python SDKs as referees, for the APIs that publish no schema here: `anthropic`
//! and `google-genai` check every request the library sends against their typed models (unknown
//! fields rejected), and the SDKs themselves (`openai`, `anthropic`, `google-genai`) read what
//! the test server sends, so the scripted fakes are proved to speak the real protocols.
//!
//! The SDKs live in a virtual environment: `$INSTRUCTOR_PY_VENV`, else
//! `~/.cache/instructor/py-venv` (the README's test command creates it; see `scripts/py-venv.sh`).
//! The scripts are in this crate's `python/` folder.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The Python interpreter of the SDKs' virtual environment.
///
/// # Panics
/// When the environment is missing: the conformance tests cannot run without the SDKs, and
/// must not pass without them.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("INSTRUCTOR_PY_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/instructor/py-venv")
    });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the official SDKs are needed for this test: no Python at {} (run `scripts/py-venv.sh`, or the \
         README's test command, which creates it; INSTRUCTOR_PY_VENV names another venv)",
        python.display()
    );
    python
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python").join(name)
}

/// Runs `script` with `args`, JSON lines on stdin, and returns its stdout as JSON lines.
fn run(name: &str, args: &[&str], input: &[Value]) -> Vec<Value> {
    let mut child = Command::new(python())
        .arg(script(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    for line in input {
        writeln!(stdin, "{line}").expect("write to the script");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("the script ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// Panics unless every body is a valid request of `api` by the official SDK's typed models,
/// unknown fields rejected at every level. `api`: `anthropic` (the SDK's API version),
/// `anthropic-legacy` (a `2023-06-01` request: sampling parameters and the structured-outputs
/// beta's `output_format`), `anthropic-batch` (a `/v1/messages/batches` body), `gemini`.
pub fn assert_valid_requests(api: &str, bodies: &[Value]) {
    let input: Vec<Value> = bodies.iter().map(|body| json!({"api": api, "body": body})).collect();
    let results = run("conformance.py", &[], &input);
    assert_eq!(results.len(), bodies.len(), "one result per body");
    let failures: Vec<String> = results
        .iter()
        .zip(bodies)
        .filter(|(r, _)| r["ok"] != json!(true))
        .map(|(r, body)| format!("{}\n  in {body}", r["errors"]))
        .collect();
    assert!(failures.is_empty(), "requests the {api} SDK's types reject:\n{}", failures.join("\n"));
}

/// Has the official SDKs call the server at `base` once per scenario, in order, and returns
/// what each one read: `{"ok": true, "summary": {...}}` or `{"ok": false, "error": {"class",
/// "status", "type", "message"}}`. A scenario is `{"sdk": "anthropic" | "gemini" |
/// "openai-responses" | "openai-chat", "op": "create" | "stream" | ..., ...}` (see
/// `python/sdk_read.py`). The SDKs make no retries, so each scenario takes one scripted reply.
pub fn read_with_sdks(base: &str, scenarios: &[Value]) -> Vec<Value> {
    run("sdk_read.py", &["--base", base], scenarios)
}
