//! Property tests for the incremental JSON parser (`instructor::json`): strict JSON cut into any
//! chunks reads back exactly and without repairs, every partial value is a prefix of the final
//! one, iterated items come out whole and in order, and no input — arbitrary text, mangled JSON,
//! a cut-off document — makes it panic or read differently when chunked.

use instructor::json::{JsonStream, ParseError, Parsed, RepairKind, parse_lenient};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Number, Value};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Characters that stress the string reader: quotes, escapes, control characters, multi-byte
/// and astral characters, JSON punctuation, a BOM and line separators.
const TRICKY: &[char] = &[
    '"', '\\', '/', '\'', '\n', '\r', '\t', '\u{0}', '\u{8}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', 'é',
    'ß', '日', '😀', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}', '{', '}', '[', ']', ',', ':', '#', '*', 'u', ' ',
    'a', 'Z', '0',
];

fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![3 => prop::sample::select(TRICKY), 1 => any::<char>()];
    prop::collection::vec(ch, 0..10).prop_map(String::from_iter)
}

/// A finite float whose shortest representation reads back as the same float.
fn float() -> impl Strategy<Value = Number> {
    use prop::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    let any_finite = (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO).boxed();
    let nice = prop::sample::select(vec![0.0, -0.0, 0.5, 1.0, -1.0, 1e-7, 1e16, 1e21, 1.7976931348623157e308, 5e-324]);
    prop_oneof![any_finite, nice.boxed()].prop_filter_map("round-trips", |f| {
        let n = Number::from_f64(f)?;
        let back: f64 = n.to_string().parse().ok()?;
        (back == f).then_some(n)
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        float().prop_map(Value::Number),
        text().prop_map(Value::String),
    ]
}

fn object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((text(), inner), 0..6).prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// Any value, nested up to `depth` containers deep.
fn value(depth: u32) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array), object(inner)]
    })
}

/// A document root: an object or an array (the parser starts at the first `{` or `[`), at most
/// four containers deep in all.
fn root() -> impl Strategy<Value = Value> {
    prop_oneof![prop::collection::vec(value(3), 0..6).prop_map(Value::Array), object(value(3))]
}

fn serialise(value: &Value, pretty: bool) -> String {
    let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    text.expect("a Value always serialises")
}

/// Cut points, mapped onto any text by `chunks`.
fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..24)
}

/// `text` split at the cut points (moved forward to a character boundary).
fn chunks<'a>(text: &'a str, cuts: &[Index]) -> Vec<&'a str> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| {
            let mut i = c.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i += 1;
            }
            i
        })
        .collect();
    at.push(0);
    at.push(text.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn feed(chunks: &[&str]) -> Result<Parsed, ParseError> {
    let mut stream = JsonStream::new();
    for chunk in chunks {
        stream.push(chunk)?;
    }
    stream.finish()
}

fn kinds(parsed: &Parsed) -> Vec<RepairKind> {
    parsed.repairs.iter().map(|r| r.kind).collect()
}

/// Whether `partial` can grow into `full`: a string a prefix of the final string; an array's
/// elements all equal but the last, which is a prefix; an object's members the first ones of the
/// final object, in order, all equal but the last, which is a prefix; any other value equal.
fn is_prefix(partial: &Value, full: &Value) -> bool {
    match (partial, full) {
        (Value::String(p), Value::String(f)) => f.starts_with(p.as_str()),
        (Value::Array(p), Value::Array(f)) => match p.split_last() {
            None => true,
            Some((last, init)) => {
                p.len() <= f.len() && init.iter().zip(f).all(|(a, b)| a == b) && is_prefix(last, &f[p.len() - 1])
            }
        },
        (Value::Object(p), Value::Object(f)) => {
            p.len() <= f.len()
                && p.iter().zip(f).enumerate().all(|(i, ((pk, pv), (fk, fv)))| {
                    pk == fk && if i + 1 == p.len() { is_prefix(pv, fv) } else { pv == fv }
                })
        }
        _ => partial == full,
    }
}

/// A valid document with an edit: characters deleted or inserted, or the end cut off.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Insert(Index, &'static str),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop::sample::select(vec!["'", ",", "}", "]", "//", "\n", "/*", "#", "\"", "{", "[", ":", "\\"]);
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Delete),
        3 => (any::<Index>(), snippet).prop_map(|(at, s)| Mutation::Insert(at, s)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        match m {
            Mutation::Delete(at) if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            Mutation::Delete(_) => {}
            Mutation::Insert(at, s) => {
                let i = at.index(chars.len() + 1);
                chars.splice(i..i, s.chars());
            }
            Mutation::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
        }
    }
    chars.into_iter().collect()
}

/// Whole and chunked reads of any text agree: same success, value and repairs.
fn whole_and_chunked_agree(text: &str, cuts: &[Index]) -> Result<(), TestCaseError> {
    let whole = parse_lenient(text);
    let chunked = feed(&chunks(text, cuts));
    match (&whole, &chunked) {
        (Ok(w), Ok(c)) => {
            prop_assert_eq!(&w.value, &c.value, "value differs when chunked: {:?}", text);
            prop_assert_eq!(kinds(w), kinds(c), "repairs differ when chunked: {:?}", text);
        }
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "whole {:?} but chunked {:?} for {:?}", whole, chunked, text),
    }
    Ok(())
}

/// JSON-ish text: mostly punctuation, quotes, literal and number characters.
fn jsonish() -> impl Strategy<Value = String> {
    const ALPHABET: &[char] = &[
        '{', '}', '[', ']', '"', '\'', ':', ',', '/', '*', '#', '\\', 'u', 'n', 't', 'r', 'e', 'f', 'a', 'l', 's', 'T',
        'F', 'N', 'o', '0', '1', '9', '-', '+', '.', 'E', ' ', '\n', '\r', '\t', 'é', '😀', '`', 'x', 'd', '\u{0}',
    ];
    prop::collection::vec(prop::sample::select(ALPHABET), 0..64).prop_map(String::from_iter)
}

/// 512 cases per property (about a second in all, unoptimised); `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 512 };
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// (a) Strict JSON, compact or pretty, in any chunks: exactly the value, no repairs.
    #[test]
    fn strict_json_round_trips_in_any_chunks(value in root(), pretty in any::<bool>(), cuts in cuts()) {
        let text = serialise(&value, pretty);
        let parsed = feed(&chunks(&text, &cuts)).map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
        prop_assert_eq!(&parsed.value, &value, "text {:?}", text);
        prop_assert!(parsed.repairs.is_empty(), "repairs {:?} for {:?}", parsed.repairs, text);
        let whole = parse_lenient(&text).map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
        prop_assert_eq!(&whole.value, &value);
        prop_assert!(whole.repairs.is_empty());
    }

    /// (b) After every chunk the partial value is a prefix of the final value, and `push`
    /// reports every change.
    #[test]
    fn partial_values_are_prefixes(value in root(), pretty in any::<bool>(), cuts in cuts()) {
        let text = serialise(&value, pretty);
        let mut stream = JsonStream::new();
        let mut before: Option<Value> = None;
        for chunk in chunks(&text, &cuts) {
            let changed = stream.push(chunk).map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
            let now = stream.value().cloned();
            prop_assert!(now.is_some(), "the root starts at byte 0 of {:?}", text);
            if let Some(now) = &now {
                prop_assert!(is_prefix(now, &value), "partial {} is not a prefix of {} (text {:?})", now, value, text);
                if let Some(before) = &before {
                    prop_assert!(is_prefix(before, now), "partial {} did not grow into {}", before, now);
                }
            }
            prop_assert!(changed || now == before, "push said unchanged but {:?} became {:?}", before, now);
            before = now;
        }
        prop_assert!(stream.is_complete());
        prop_assert_eq!(stream.value(), Some(&value));
    }

    /// (c) Iterating over a root array or `{"items": [...]}` yields exactly the elements, in
    /// order, whatever the chunking.
    #[test]
    fn iterated_items_come_out_whole_and_in_order(
        elements in prop::collection::vec(value(3), 0..8),
        wrapped in any::<bool>(),
        pretty in any::<bool>(),
        cuts in cuts(),
    ) {
        let doc = if wrapped {
            Value::Object(Map::from_iter([("items".to_owned(), Value::Array(elements.clone()))]))
        } else {
            Value::Array(elements.clone())
        };
        let text = serialise(&doc, pretty);
        let mut stream = JsonStream::new().iterating();
        let mut items = Vec::new();
        for chunk in chunks(&text, &cuts) {
            stream.push(chunk).map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
            items.extend(stream.take_items());
        }
        prop_assert_eq!(&items, &elements, "text {:?}", text);
        let rest = stream.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let empty = if wrapped { serde_json::json!({"items": []}) } else { serde_json::json!([]) };
        prop_assert_eq!(rest.value, empty, "items are not kept in the value");
        prop_assert!(rest.repairs.is_empty());
    }

    /// (d) Any string at all: no panic, and whole and chunked reads agree.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), cuts in cuts()) {
        whole_and_chunked_agree(&text, &cuts)?;
        let mut stream = JsonStream::new().iterating();
        for chunk in chunks(&text, &cuts) {
            if stream.push(chunk).is_err() {
                break;
            }
            stream.take_items().for_each(drop);
        }
    }

    /// (d) JSON-ish noise: no panic, and whole and chunked reads agree.
    #[test]
    fn jsonish_noise_never_panics(text in jsonish(), cuts in cuts()) {
        whole_and_chunked_agree(&text, &cuts)?;
    }

    /// (d) Valid JSON with characters deleted, punctuation inserted, or the end cut off: no
    /// panic, and whole and chunked reads agree.
    #[test]
    fn mangled_json_never_panics(
        value in root(),
        pretty in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..6),
        cuts in cuts(),
    ) {
        let text = mutate(&serialise(&value, pretty), &mutations);
        whole_and_chunked_agree(&text, &cuts)?;
    }

    /// (d) Any non-empty prefix of a valid document finishes as a prefix of its value, with at
    /// most a truncation repair — read plainly or iterating.
    #[test]
    fn every_prefix_finishes(value in root(), pretty in any::<bool>(), cut in any::<Index>(), cuts in cuts()) {
        let text = serialise(&value, pretty);
        let mut end = 1 + cut.index(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let prefix = &text[..end];
        let parsed = feed(&chunks(prefix, &cuts))
            .map_err(|e| TestCaseError::fail(format!("{e} for prefix {prefix:?}")))?;
        prop_assert!(is_prefix(&parsed.value, &value), "{} is not a prefix of {} (prefix {:?})", parsed.value, value, prefix);
        let expected: &[RepairKind] = if end == text.len() { &[] } else { &[RepairKind::Truncated] };
        prop_assert_eq!(kinds(&parsed), expected, "prefix {:?}", prefix);

        let mut stream = JsonStream::new().iterating();
        for chunk in chunks(prefix, &cuts) {
            stream.push(chunk).map_err(|e| TestCaseError::fail(format!("{e} for prefix {prefix:?}")))?;
            stream.take_items().for_each(drop);
        }
        stream.finish().map_err(|e| TestCaseError::fail(format!("iterating: {e} for prefix {prefix:?}")))?;
    }
}
