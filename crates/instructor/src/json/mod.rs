//! The one JSON reader for replies: an incremental, tolerant parser that consumes each chunk once
//! (streamed partials, streamed list items, and whole replies all go through it), and a
//! schema-aligned repair pass for what only the schema can settle (`"20"` where an integer is due).
//!
//! ```
//! use instructor::json::{JsonStream, RepairKind};
//!
//! let mut stream = JsonStream::new();
//! for chunk in ["Sure! ```json\n{'name': 'Ja", "son', age: 20,}\n```"] {
//!     stream.push(chunk).unwrap();
//! }
//! let parsed = stream.finish().unwrap();
//! assert_eq!(parsed.value, serde_json::json!({"name": "Jason", "age": 20}));
//! let kinds: Vec<_> = parsed.repairs.iter().map(|r| r.kind).collect();
//! assert_eq!(kinds, [RepairKind::TextAroundJson, RepairKind::SingleQuotes, RepairKind::UnquotedKey, RepairKind::TrailingComma]);
//! ```

mod parser;
mod repair;

pub use parser::{JsonStream, ParseError, Parsed, parse_lenient};
pub(crate) use repair::align_within;
pub use repair::{Repair, RepairKind, align_to_schema};
