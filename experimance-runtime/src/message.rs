//! Message types with a wire type: the `"type"` field the Python models put first in every
//! message, declared once with `#[message]` (see the `experimance` crate).
//!
//! A `#[message]` struct serializes `"type": "<Name>"` before its fields without a field for
//! it, and a handler that takes it checks the `"type"` of what arrives: a message of another
//! type is a counted error ("expected type RenderRequest, got ImageReady"), never decoded
//! into the wrong struct. A `#[message]` enum of such structs takes a closed set of types,
//! one per variant.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::HandlerError;

/// A message type that knows its wire types: implemented by `#[message]` on a struct (one
/// type) or on an enum of `#[message]` structs (one type per variant).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no wire type",
    label = "not a `#[message]` type",
    note = "put `#[experimance::message]` on `{Self}` (above its serde derive, if any); or, for a `#[topic]` handler, name its topic: `#[topic(\"...\")]`; or, for one of several `#[task]` handlers, make it the `#[task(catch_all)]`"
)]
pub trait Message: Serialize + DeserializeOwned {
    /// The values of `"type"` this type takes, in declaration order.
    const TYPES: &'static [&'static str];

    /// Decodes `json`, whose `"type"` is `wire_type`, one of [`Message::TYPES`].
    fn decode_typed(wire_type: &str, json: &str) -> Result<Self, serde_json::Error>;
}

/// A message type with exactly one wire type: a `#[message]` struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[message]` struct",
    note = "a variant of a `#[message]` enum holds one `#[message]` struct: `Variant(Struct)`"
)]
pub trait WireType: Message {
    /// The value of its `"type"` field: the struct's name, or the name given to `#[message]`.
    const TYPE: &'static str;
}

/// The `"type"` of a JSON object when it is a string. The fast path reads it where
/// `#[message]` types and the Python models put it, first; otherwise the object is parsed
/// (other fields skipped without allocating).
pub fn wire_type_of(json: &str) -> Option<Cow<'_, str>> {
    crate::wire::type_of(json.as_bytes())
}

/// Finds a handler's message type's wire types where it has some:
/// `(&TypeProbe::<T>::new()).wire()` picks the impl for `T: Message` when there is one, else
/// the one for every `T`, by method resolution (autoref specialization), so generated code
/// need not know whether a type is a `#[message]`.
#[doc(hidden)]
pub struct TypeProbe<T: ?Sized>(std::marker::PhantomData<fn() -> T>);

impl<T: ?Sized> TypeProbe<T> {
    #[doc(hidden)]
    pub fn new() -> Self {
        TypeProbe(std::marker::PhantomData)
    }
}

impl<T: ?Sized> Default for TypeProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// How a handler's message is decoded: checked against its wire types, or not.
#[doc(hidden)]
pub type Decoder<T> = Option<(
    &'static [&'static str],
    fn(&str, &str) -> Result<T, serde_json::Error>,
)>;

#[doc(hidden)]
pub trait Untyped<T> {
    fn wire(&self) -> Decoder<T> {
        None
    }
}

impl<T> Untyped<T> for &TypeProbe<T> {}

#[doc(hidden)]
pub trait Typed<T> {
    fn wire(&self) -> Decoder<T>;
}

impl<T: Message> Typed<T> for TypeProbe<T> {
    fn wire(&self) -> Decoder<T> {
        Some((T::TYPES, T::decode_typed))
    }
}

/// Decodes a handler's message: a `#[message]` type only from a message whose `"type"` is one
/// of its wire types.
#[doc(hidden)]
pub fn decode_checked<'a, T: Deserialize<'a>>(
    payload: &'a str,
    decoder: Decoder<T>,
) -> Result<T, HandlerError> {
    let Some((types, decode)) = decoder else {
        return crate::dispatch::decode(payload);
    };
    let got = wire_type_of(payload);
    match got.as_deref() {
        Some(t) if types.contains(&t) => decode(t, payload).map_err(HandlerError::Decode),
        _ => Err(HandlerError::WrongType {
            expected: types,
            got: got.map(Cow::into_owned),
        }),
    }
}

/// The error of a message whose `"type"` is none of `types` (or missing), for `#[message]`
/// enums.
#[doc(hidden)]
pub fn unknown_type(types: &[&str], got: Option<&str>) -> String {
    let expected = types.join(" or ");
    match got {
        Some(t) => format!("expected type {expected}, got {}", crate::Untrusted::str(t)),
        None => format!("expected type {expected}, got a message without \"type\""),
    }
}

/// Whether `topic` is one of `types` (dispatch by wire type).
#[doc(hidden)]
pub fn one_of(types: &[&str], topic: &str) -> bool {
    types.contains(&topic)
}

/// How many entries `parts` hold together (for [`concat`]'s length).
#[doc(hidden)]
pub const fn total(parts: &[&[&'static str]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// `parts` one after the other, in a constant (a handler's topics: literal ones and the wire
/// types of `#[topic]` handlers without a topic).
#[doc(hidden)]
pub const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "concat: the length is the total of the parts");
    out
}

/// Whether two lists of topics share one, in a constant (duplicate handlers).
#[doc(hidden)]
pub const fn overlap(a: &[&str], b: &[&str]) -> bool {
    let mut i = 0;
    while i < a.len() {
        let mut j = 0;
        while j < b.len() {
            if eq(a[i].as_bytes(), b[j].as_bytes()) {
                return true;
            }
            j += 1;
        }
        i += 1;
    }
    false
}

/// Whether every one of `types` is matched by a SUB prefix of `topics`, in a constant.
#[doc(hidden)]
pub const fn all_subscribed(topics: &[&str], types: &[&str]) -> bool {
    let mut i = 0;
    while i < types.len() {
        if !crate::__private::subscribed(topics, types[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether a list holds the same topic twice, in a constant (an enum with two variants of
/// one wire type).
#[doc(hidden)]
pub const fn has_duplicate(types: &[&str]) -> bool {
    let mut i = 0;
    while i < types.len() {
        let mut j = i + 1;
        while j < types.len() {
            if eq(types[i].as_bytes(), types[j].as_bytes()) {
                return true;
            }
            j += 1;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTS: &[&[&str]] = &[&["era"], &["A", "B"], &[]];
    const ALL: [&str; total(PARTS)] = concat::<{ total(PARTS) }>(PARTS);

    #[test]
    fn constants_concatenate_and_compare() {
        assert_eq!(ALL, ["era", "A", "B"]);
        assert!(overlap(&["a", "b"], &["c", "b"]));
        assert!(!overlap(&["a"], &["ab"]));
        assert!(has_duplicate(&["a", "b", "a"]));
        assert!(!has_duplicate(&["a", "b"]));
        assert!(all_subscribed(&["Era", ""], &["Era", "Idle"]));
        assert!(!all_subscribed(&["Era"], &["Era", "Idle"]));
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(tag = "type")]
    struct RenderRequest {
        width: u32,
    }

    impl Message for RenderRequest {
        const TYPES: &'static [&'static str] = &["RenderRequest"];
        fn decode_typed(_: &str, json: &str) -> Result<Self, serde_json::Error> {
            serde_json::from_str(json)
        }
    }

    #[test]
    fn a_typed_decode_checks_the_wire_type() {
        // What generated code writes: the borrow is what lets a type without a wire type
        // fall back to `Untyped`.
        #[allow(clippy::needless_borrow)]
        let decoder = (&TypeProbe::<RenderRequest>::new()).wire();
        let ok =
            decode_checked::<RenderRequest>(r#"{"type": "RenderRequest", "width": 3}"#, decoder);
        assert_eq!(ok.unwrap(), RenderRequest { width: 3 });
        let wrong = decode_checked::<RenderRequest>(r#"{"type":"ImageReady","width":3}"#, decoder);
        assert_eq!(
            wrong.unwrap_err().to_string(),
            "expected type RenderRequest, got ImageReady"
        );
        let missing = decode_checked::<RenderRequest>(r#"{"width":3}"#, decoder);
        assert_eq!(
            missing.unwrap_err().to_string(),
            "expected type RenderRequest, got a message without \"type\""
        );
        // A type that is not a `#[message]` decodes as before.
        let plain = (&TypeProbe::<serde_json::Value>::new()).wire();
        assert!(plain.is_none());
        assert!(decode_checked::<serde_json::Value>(r#"{"type":"X"}"#, plain).is_ok());
    }
}
