//! Borrowing deserializers: strings without escapes are borrowed from the input instead of
//! copied, which matters when a stream brings hundreds of thousands of small events.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// `null` reads as the default, like an absent field.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serde's own `Cow` impl and `Option<Cow>` always allocate; this borrows when it can.
pub(crate) struct CowStr;

impl<'de> de::Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A string or `null`, borrowed when it has no escapes.
pub(crate) fn opt_cow<'de, 'a, D>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    'de: 'a,
    D: Deserializer<'de>,
{
    struct OptStr;
    impl<'de> de::Visitor<'de> for OptStr {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(CowStr).map(Some)
        }
    }
    deserializer.deserialize_option(OptStr)
}

/// The first item of a list, the rest skipped; `null` reads as none. For a reply's alternatives
/// of which a client reads one (Gemini's `candidates`): no list is built.
pub(crate) fn first<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct First<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for First<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
            let first = items.next_element()?;
            while items.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    deserializer.deserialize_any(First(std::marker::PhantomData))
}

/// A list (`null` reads as empty) first sized for one item: a reply's lists mostly hold one or
/// two, and a list grown by pushing starts at four.
pub(crate) fn short_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct List<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for List<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
            let mut list = Vec::with_capacity(items.size_hint().unwrap_or(1).clamp(1, 64));
            while let Some(item) = items.next_element()? {
                list.push(item);
            }
            Ok(list)
        }
    }
    deserializer.deserialize_any(List(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Reply<'a> {
        #[serde(borrow, default, deserialize_with = "first")]
        items: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct Lists<'a> {
        #[serde(borrow, default, deserialize_with = "short_list")]
        items: Vec<Cow<'a, str>>,
    }

    #[test]
    fn a_short_list_reads_every_item_and_null_as_empty() {
        let read = |json: &'static str| serde_json::from_str::<Lists<'_>>(json).map(|r| r.items);
        assert_eq!(read(r#"{"items": ["a", "b", "c", "d", "e"]}"#).expect("reads"), ["a", "b", "c", "d", "e"]);
        assert_eq!(read(r#"{"items": ["a"]}"#).expect("reads").capacity(), 1);
        assert!(read(r#"{"items": null}"#).expect("reads").is_empty());
        assert!(read(r#"{}"#).expect("reads").is_empty());
        assert!(read(r#"{"items": {"a": 1}}"#).is_err());
    }

    #[test]
    fn the_first_item_is_read_and_the_rest_skipped() {
        let read = |json: &'static str| serde_json::from_str::<Reply<'_>>(json).map(|r| r.items);
        assert_eq!(read(r#"{"items": ["a", {"b": [1, 2]}, "c"]}"#).expect("reads").as_deref(), Some("a"));
        assert_eq!(read(r#"{"items": []}"#).expect("reads"), None);
        assert_eq!(read(r#"{"items": null}"#).expect("reads"), None);
        assert_eq!(read(r#"{}"#).expect("reads"), None);
        assert!(read(r#"{"items": "a"}"#).is_err());
        assert!(read(r#"{"items": [1]}"#).is_err());
    }
}
