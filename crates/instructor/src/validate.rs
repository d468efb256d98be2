//! Validation beyond types: a reply that deserialises may still be wrong (an age of 400, an
//! email without `@`). Its error message goes back to the model in the re-ask.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ReplyError;
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

/// A check run on each decoded value: `Validate::validate`, or nothing.
pub(crate) type Check<T> = Arc<dyn Fn(&T, &Value) -> Result<(), ReplyError> + Send + Sync>;

pub(crate) fn no_check<T>() -> Check<T> {
    Arc::new(|_, _| Ok(()))
}

/// Turns the reply's JSON into `T`, naming the failing field on error.
///
/// `unwrap` is set when the response schema wrapped `T` as `{"value": T}`; a model that answered
/// with the bare value is accepted too.
pub(crate) fn decode_typed<T: DeserializeOwned>(json: &str, unwrap: bool) -> Result<T, ReplyError> {
    #[derive(serde::Deserialize)]
    struct Wrapper<T> {
        value: T,
    }
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

/// Turns the reply's JSON into a [`Value`] that satisfies a run-time schema.
#[cfg(feature = "dynamic")]
pub(crate) fn decode_dynamic(schema: &ResponseSchema, json: &str, unwrap: bool) -> Result<Value, ReplyError> {
    let mut value: Value = serde_json::from_str(json).map_err(|e| ReplyError::parse(None, e.to_string()))?;
    if unwrap {
        if let Some(inner) = value.as_object_mut().and_then(|o| o.remove(WRAPPER_FIELD)) {
            value = inner;
        }
    }
    // The run-time validator was compiled from the caller's schema, which is the unwrapped target.
    schema.check(&value)?;
    Ok(value)
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

    #[test]
    fn wrapped_or_bare_values() {
        assert_eq!(decode_typed::<String>(r#"{"value":"hi"}"#, true), Ok("hi".to_owned()));
        assert_eq!(decode_typed::<bool>("true", true), Ok(true));
        assert!(decode_typed::<u8>(r#"{"value":"x"}"#, true).is_err());
        assert!(decode_typed::<User>(r#"{"name":"a","age":1} trailing"#, false).is_err());
    }
}
