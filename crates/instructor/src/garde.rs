//! garde rules as a validation hook: `create_validated::<Garde<T>>` re-asks with garde's report.

use std::borrow::Cow;
use std::ops::{Deref, DerefMut};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::ReplyError;
use crate::validate::Validate;

/// A `T` whose garde rules are checked after parsing; a failure is re-asked like any
/// [`Validate`] error.
///
/// ```
/// use instructor::garde::Garde;
/// use instructor::Validate;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema, garde::Validate)]
/// struct UserDetails {
///     #[garde(length(min = 1))]
///     name: String,
///     #[garde(range(min = 18))]
///     age: u32,
/// }
///
/// let user: Garde<UserDetails> = serde_json::from_str(r#"{"name":"Jason","age":12}"#).unwrap();
/// let error = user.validate(&serde_json::Value::Null).unwrap_err();
/// assert_eq!(error.path(), Some("age"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Garde<T>(pub T);

impl<T> Garde<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Garde<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Garde<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Garde<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Garde)
    }
}

impl<T: JsonSchema> JsonSchema for Garde<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

impl<T> Validate for Garde<T>
where
    T: garde::Validate,
    T::Context: Default,
{
    fn validate(&self, _context: &Value) -> Result<(), ReplyError> {
        let report = match self.0.validate_with(&T::Context::default()) {
            Ok(()) => return Ok(()),
            Err(report) => report,
        };
        let mut errors = report.iter();
        let Some((path, first)) = errors.next() else { return Ok(()) };
        let path = path.to_string();
        let rest: Vec<String> = errors.map(|(p, e)| format!("{p}: {e}")).collect();
        let mut message = first.to_string();
        if !rest.is_empty() {
            message.push_str("; also ");
            message.push_str(&rest.join("; "));
        }
        Err(ReplyError::validation((!path.is_empty()).then_some(path), message))
    }
}
