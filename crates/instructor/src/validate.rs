//! Validation beyond types: a reply that deserialises may still be wrong (an age of 400, an
//! email without `@`). Its error message goes back to the model in the re-ask.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ReplyError, ReplyErrorKind};
use crate::json::{self, Repair, RepairKind};
#[cfg(feature = "dynamic")]
use crate::schema::ResponseSchema;
use crate::schema::WRAPPER_FIELD;

/// Checks a value after it parsed. `context` is the request's [`context`](crate::ChatRequest::context)
/// (`Value::Null` when none was given), for rules that depend on the caller's data.
///
/// ```
/// use instructor::{ReplyError, Validate};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct UserDetails { name: String, age: u32 }
///
/// impl Validate for UserDetails {
///     fn validate(&self, context: &serde_json::Value) -> Result<(), ReplyError> {
///         let min = context["min_age"].as_u64().unwrap_or(0);
///         if u64::from(self.age) < min {
///             return Err(ReplyError::validation(Some("age".into()), format!("must be at least {min}")));
///         }
///         Ok(())
///     }
/// }
///
/// let user = UserDetails { name: "Jason".into(), age: 20 };
/// assert!(user.validate(&serde_json::json!({"min_age": 18})).is_ok());
/// assert_eq!(user.validate(&serde_json::json!({"min_age": 21})).unwrap_err().to_string(), "age: must be at least 21");
/// ```
pub trait Validate {
    /// `Ok(())` when the value is acceptable; otherwise the error to send back to the model.
    fn validate(&self, context: &Value) -> Result<(), ReplyError>;
}

/// A check run on each decoded value: `Validate::validate`, or nothing ([`accept`]).
pub(crate) type CheckFn<T> = dyn Fn(&T, &Value) -> Result<(), ReplyError> + Send + Sync;

/// A check a stream owns.
pub(crate) type Check<T> = Arc<CheckFn<T>>;

/// No check: every decoded value is accepted.
pub(crate) fn accept<T>(_: &T, _: &Value) -> Result<(), ReplyError> {
    Ok(())
}

pub(crate) fn no_check<T>() -> Check<T> {
    Arc::new(|_: &T, _: &Value| Ok(()))
}

/// Turns a reply's JSON into the target: from text (the fast path for valid JSON) or from a
/// value the lenient parser repaired.
pub(crate) trait Decode<T>: Sync {
    fn decode_text(&self, json: &str, unwrap: bool) -> Result<T, ReplyError>;
    fn decode_value(&self, value: Value, unwrap: bool) -> Result<T, ReplyError>;

    /// [`decode_text`](Self::decode_text) where the error may be left unbuilt (`Err(None)`): the
    /// fast path for the common reply that decodes.
    fn try_text(&self, json: &str, unwrap: bool) -> Result<T, Option<ReplyError>> {
        self.decode_text(json, unwrap).map_err(Some)
    }
}

/// Decodes into a Rust type with serde, naming the failing field on error.
///
/// `unwrap` is set when the response schema wrapped `T` as `{"value": T}`; a model that answered
/// with the bare value is accepted too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Typed;

impl<T: DeserializeOwned> Decode<T> for Typed {
    fn decode_text(&self, json: &str, unwrap: bool) -> Result<T, ReplyError> {
        decode_typed(json, unwrap)
    }

    fn decode_value(&self, mut value: Value, unwrap: bool) -> Result<T, ReplyError> {
        if unwrap {
            if let Value::Object(members) = &mut value {
                if members.len() == 1 {
                    if let Some(inner) = members.remove(WRAPPER_FIELD) {
                        return deserialize_value::<T>(inner);
                    }
                }
            }
        }
        deserialize_value::<T>(value)
    }

    fn try_text(&self, json: &str, unwrap: bool) -> Result<T, Option<ReplyError>> {
        let decoded = match unwrap {
            true => serde_json::from_str::<Wrapper<T>>(json).map(|w| w.value).or_else(|_| serde_json::from_str(json)),
            false => serde_json::from_str(json),
        };
        decoded.map_err(|_| None)
    }
}

/// `{"value": T}`: a target the response schema wrapped (see [`Typed`]).
#[derive(serde::Deserialize)]
struct Wrapper<T> {
    value: T,
}

pub(crate) fn decode_typed<T: DeserializeOwned>(json: &str, unwrap: bool) -> Result<T, ReplyError> {
    if !unwrap {
        return deserialize::<T>(json, "");
    }
    match deserialize::<Wrapper<T>>(json, WRAPPER_FIELD) {
        Ok(w) => Ok(w.value),
        Err(wrapped_err) => deserialize::<T>(json, "").map_err(|_| wrapped_err),
    }
}

fn deserialize<T: DeserializeOwned>(json: &str, strip: &str) -> Result<T, ReplyError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = path.strip_prefix(strip).unwrap_or(&path).trim_start_matches('.');
        let path = (!path.is_empty()).then(|| path.to_owned());
        ReplyError::parse(path, e.into_inner().to_string())
    })?;
    de.end().map_err(|e| ReplyError::parse(None, e.to_string()))?;
    Ok(value)
}

fn deserialize_value<T: DeserializeOwned>(value: Value) -> Result<T, ReplyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = (!path.is_empty() && path != ".").then(|| path.trim_start_matches('.').to_owned());
        ReplyError::parse(path, e.into_inner().to_string())
    })
}

/// Decodes into a [`Value`] that satisfies a run-time schema.
#[cfg(feature = "dynamic")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dynamic<'s>(pub &'s ResponseSchema);

#[cfg(feature = "dynamic")]
impl Decode<Value> for Dynamic<'_> {
    fn decode_text(&self, json: &str, unwrap: bool) -> Result<Value, ReplyError> {
        let value: Value = serde_json::from_str(json).map_err(|e| ReplyError::parse(None, e.to_string()))?;
        self.decode_value(value, unwrap)
    }

    fn decode_value(&self, mut value: Value, unwrap: bool) -> Result<Value, ReplyError> {
        if unwrap {
            if let Some(inner) = value.as_object_mut().and_then(|o| o.remove(WRAPPER_FIELD)) {
                value = inner;
            }
        }
        // The run-time validator was compiled from the caller's schema, which is the unwrapped target.
        self.0.check(&value)?;
        Ok(value)
    }
}

/// [`Dynamic`] owning its schema, for streams that outlive the caller's borrow.
#[cfg(feature = "dynamic")]
#[derive(Debug, Clone)]
pub(crate) struct DynamicShared(pub Arc<ResponseSchema>);

#[cfg(feature = "dynamic")]
impl Decode<Value> for DynamicShared {
    fn decode_text(&self, json: &str, unwrap: bool) -> Result<Value, ReplyError> {
        Dynamic(&self.0).decode_text(json, unwrap)
    }

    fn decode_value(&self, value: Value, unwrap: bool) -> Result<Value, ReplyError> {
        Dynamic(&self.0).decode_value(value, unwrap)
    }
}

/// What to do with a reply that is not valid JSON for the target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOptions<'s> {
    pub unwrap: bool,
    /// The schema the reply's document answers (the wire schema, or the array for parallel tools).
    pub schema: &'s Value,
    /// No repair: only valid JSON (in a fence, for modes that expect one) is accepted.
    pub strict: bool,
    /// Text around the document is the mode's protocol, not a fault.
    pub prose_expected: bool,
}

/// Reads a reply: valid JSON straight into the target; otherwise leniently parsed, aligned to the
/// schema, and decoded, with every repair returned. The one place replies are decoded.
pub(crate) fn read_reply<T>(
    decoder: &dyn Decode<T>,
    text: &str,
    options: ReadOptions<'_>,
) -> Result<(T, Vec<Repair>), ReplyError> {
    let mut strict_error = match decoder.try_text(text, options.unwrap) {
        Ok(value) => return Ok((value, Vec::new())),
        Err(e) => e,
    };
    // The strict decoder's error (it names the field), built only where it is the answer.
    let mut first_error = || {
        strict_error.take().unwrap_or_else(|| match decoder.decode_text(text, options.unwrap) {
            Err(e) => e,
            Ok(_) => ReplyError::parse(None, "the reply decodes only on a second reading"),
        })
    };
    // Valid JSON of the wrong shape is common (a string for a number): serde_json reads it
    // faster than the lenient parser, which is for what it cannot read.
    let parsed = match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(json::Parsed { value, repairs: Vec::new() }),
        Err(_) => json::parse_lenient(text),
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        // The strict parser's message is the clearer one for a document that starts as JSON.
        Err(e) if text.trim_start().starts_with(['{', '[']) => {
            let first_error = first_error();
            if first_error.kind() != ReplyErrorKind::Parse {
                return Err(ReplyError::parse(None, e.to_string()));
            }
            return Err(ReplyError::parse(first_error.path().map(str::to_owned), format!("{first_error}; {e}")));
        }
        Err(e) => return Err(ReplyError::parse(None, e.to_string())),
    };
    let mut value = parsed.value;
    let mut repairs = parsed.repairs;
    if options.prose_expected {
        repairs.retain(|r| r.kind != RepairKind::TextAroundJson);
    }
    if options.strict {
        if !repairs.is_empty() {
            return Err(first_error());
        }
    } else {
        repairs.extend(json::align_to_schema(&mut value, options.schema));
    }
    // With nothing repaired this fails as the text did, and its error names the field too.
    let value = decoder.decode_value(value, options.unwrap)?;
    if !repairs.is_empty() {
        tracing::debug!(repairs = %repairs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "), "reply repaired");
    }
    Ok((value, repairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct User {
        name: String,
        age: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode_typed::<User>(r#"{"name":"Jason","age":"twenty"}"#, false).expect_err("invalid");
        assert_eq!(e.path(), Some("age"));
        let e = decode_typed::<Vec<User>>(r#"{"value":[{"name":"a","age":1},{"name":"b","age":-1}]}"#, true)
            .expect_err("invalid");
        assert_eq!(e.path(), Some("[1].age"), "{e}");
    }

    fn options(schema: &Value) -> ReadOptions<'_> {
        ReadOptions { unwrap: false, schema, strict: false, prose_expected: false }
    }

    #[test]
    fn repairs_what_the_schema_settles_and_records_it() {
        let schema = serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}});
        let (user, repairs) =
            read_reply::<User>(&Typed, "Sure: {'name': 'Jason', 'age': '20',}", options(&schema)).expect("repaired");
        assert_eq!(user, User { name: "Jason".into(), age: 20 });
        let kinds: Vec<_> = repairs.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                RepairKind::TextAroundJson,
                RepairKind::SingleQuotes,
                RepairKind::TrailingComma,
                RepairKind::NumberFromString
            ]
        );
        let strict = ReadOptions { strict: true, ..options(&schema) };
        assert!(read_reply::<User>(&Typed, "{'name': 'Jason', 'age': 20}", strict).is_err());
        assert!(read_reply::<User>(&Typed, r#"{"name": "Jason", "age": 20}"#, strict).is_ok());
        // A value that no repair can fix keeps the strict error, naming the field.
        let e = read_reply::<User>(&Typed, r#"{"name": "Jason", "age": "twenty"}"#, options(&schema))
            .expect_err("no repair fixes it");
        assert_eq!(e.path(), Some("age"));
    }

    #[test]
    fn wrapped_or_bare_values() {
        assert_eq!(decode_typed::<String>(r#"{"value":"hi"}"#, true), Ok("hi".to_owned()));
        assert_eq!(decode_typed::<bool>("true", true), Ok(true));
        assert!(decode_typed::<u8>(r#"{"value":"x"}"#, true).is_err());
        assert!(decode_typed::<User>(r#"{"name":"a","age":1} trailing"#, false).is_err());
    }
}
