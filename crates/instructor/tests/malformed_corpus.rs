//! The malformed-input corpus: every file in `tests/data/malformed/` is read with
//! `parse_lenient`, and fed to a `JsonStream` in pieces of 1, 2 and 3 characters and of 1, 2 and
//! 3 bytes (moved forward to a character boundary), and must give what `expected.json` says:
//! `{"value": ..., "repairs": ["TrailingComma", ...]}` (repair kinds by their `Debug` names, in
//! the order first made) or `{"error": true}`. An optional `"note"` explains an entry.
//!
//! Every file needs an entry and every entry a file. Files are read lossily, so a non-UTF-8 file
//! stands for what a client makes of a garbled reply. All mismatches are reported together, and
//! a panic counts as one.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use instructor::json::{JsonStream, ParseError, Parsed, parse_lenient};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed")
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Value { value: Value, repairs: Vec<String> },
    Error,
}

impl Outcome {
    fn of(result: Result<Parsed, ParseError>) -> Outcome {
        match result {
            Ok(parsed) => Outcome::Value {
                value: parsed.value,
                repairs: parsed.repairs.iter().map(|r| format!("{:?}", r.kind)).collect(),
            },
            Err(_) => Outcome::Error,
        }
    }

    fn from_manifest(name: &str, entry: &Value) -> Outcome {
        let entry = entry.as_object().unwrap_or_else(|| panic!("{name}: the entry is not an object"));
        for key in entry.keys() {
            assert!(["value", "repairs", "error", "note"].contains(&key.as_str()), "{name}: unknown key {key:?}");
        }
        if entry.get("error") == Some(&Value::Bool(true)) {
            assert!(!entry.contains_key("value"), "{name}: both an error and a value");
            return Outcome::Error;
        }
        let value = entry.get("value").unwrap_or_else(|| panic!("{name}: no `value` and no `error: true`")).clone();
        let repairs = entry
            .get("repairs")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{name}: `repairs` must be an array of RepairKind names"))
            .iter()
            .map(|r| r.as_str().unwrap_or_else(|| panic!("{name}: a repair is not a string")).to_owned())
            .collect();
        Outcome::Value { value, repairs }
    }
}

fn describe(outcome: &std::thread::Result<Outcome>) -> String {
    match outcome {
        Ok(Outcome::Value { value, repairs }) => format!("value {value} repairs {repairs:?}"),
        Ok(Outcome::Error) => "an error".to_owned(),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            format!("a PANIC ({message})")
        }
    }
}

/// `text` in pieces of `n` characters.
fn char_pieces(text: &str, n: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces
}

/// `text` in pieces of `n` bytes, each cut moved forward to a character boundary.
fn byte_pieces(text: &str, n: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = n.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces
}

fn feed(pieces: &[&str]) -> Result<Parsed, ParseError> {
    let mut stream = JsonStream::new();
    for piece in pieces {
        stream.push(piece)?;
    }
    stream.finish()
}

#[test]
fn malformed_corpus_matches_the_manifest() {
    let dir = corpus_dir();
    let manifest_text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json is readable");
    let manifest: BTreeMap<String, Value> =
        serde_json::from_str(&manifest_text).expect("expected.json is a JSON object");

    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the corpus directory is readable")
        .map(|e| e.expect("a directory entry").file_name().into_string().expect("a UTF-8 file name"))
        .filter(|name| name != "expected.json")
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has only {} files", files.len());

    let missing: Vec<&String> = files.iter().filter(|f| !manifest.contains_key(*f)).collect();
    assert!(missing.is_empty(), "files without an entry in expected.json: {missing:?}");
    let stale: Vec<&String> = manifest.keys().filter(|k| !files.contains(k)).collect();
    assert!(stale.is_empty(), "entries in expected.json without a file: {stale:?}");

    // Panics are caught and reported with the rest; keep the default hook from printing each.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for name in &files {
        let bytes = std::fs::read(dir.join(name)).expect("a corpus file is readable");
        let text = String::from_utf8_lossy(&bytes);
        let expected = Outcome::from_manifest(name, &manifest[name]);
        let mut runs: Vec<(String, Vec<&str>)> = vec![("whole".to_owned(), vec![&text])];
        for n in 1..=3 {
            runs.push((format!("{n}-char pieces"), char_pieces(&text, n)));
            runs.push((format!("{n}-byte pieces"), byte_pieces(&text, n)));
        }
        for (how, pieces) in runs {
            let actual = catch_unwind(AssertUnwindSafe(|| {
                Outcome::of(if how == "whole" { parse_lenient(&text) } else { feed(&pieces) })
            }));
            if actual.as_ref().ok() != Some(&expected) {
                failures.push(format!(
                    "{name} ({how}):\n    expected {}\n    got      {}",
                    describe(&Ok(Outcome::from_manifest(name, &manifest[name]))),
                    describe(&actual)
                ));
                // One line per file is enough when the whole read already disagrees.
                if how == "whole" {
                    break;
                }
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{} mismatch(es) with expected.json:\n{}", failures.len(), failures.join("\n"));
}
