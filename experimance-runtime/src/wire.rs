//! The byte formats of the protocol (`docs/wire.md` in the repository): `<topic> <json>` on PUB/SUB, bare JSON on PUSH/PULL.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Why a received frame could not be split into topic and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The frame was empty.
    Empty,
    /// The frame had no space between topic and JSON.
    NoSpace,
    /// The frame was not UTF-8 text.
    NotUtf8,
    /// The message had more than one frame (the protocol has exactly one).
    MultiFrame,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::Empty => "empty frame",
            FrameError::NoSpace => "malformed frame: no space between topic and JSON",
            FrameError::NotUtf8 => "malformed frame: not UTF-8 text",
            FrameError::MultiFrame => "malformed message: more than one frame",
        })
    }
}

impl std::error::Error for FrameError {}

/// Splits a PUB/SUB frame at its first space into topic and JSON payload. The whole frame
/// must be UTF-8 text, as the protocol says: JSON decoding alone would not look inside the parts
/// of a document the handler's type ignores. Checked once here, the payload is decoded as
/// text without a second check.
///
/// ```
/// use experimance_runtime::wire::{split_frame, FrameError};
///
/// assert_eq!(split_frame(b"era {\"a\":1}"), Ok(("era", "{\"a\":1}")));
/// assert_eq!(split_frame(b"era"), Err(FrameError::NoSpace));
/// assert_eq!(split_frame(b"era \"\xff\""), Err(FrameError::NotUtf8));
/// ```
pub fn split_frame(frame: &[u8]) -> Result<(&str, &str), FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    let space = frame
        .iter()
        .position(|&b| b == b' ')
        .ok_or(FrameError::NoSpace)?;
    let text = utf8(frame)?;
    Ok((&text[..space], &text[space + 1..]))
}

/// Checks a PUSH/PULL frame, non-empty UTF-8 text, and returns the text.
///
/// ```
/// use experimance_runtime::wire::{check_task, FrameError};
///
/// assert_eq!(check_task(b"{\"task\":1}"), Ok("{\"task\":1}"));
/// assert_eq!(check_task(b"{\"task\":\"\xff\"}"), Err(FrameError::NotUtf8));
/// ```
pub fn check_task(frame: &[u8]) -> Result<&str, FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    utf8(frame)
}

/// `bytes` as text, or [`FrameError::NotUtf8`].
fn utf8(bytes: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(bytes).map_err(|_| FrameError::NotUtf8)
}

/// Checks that `topic` can go on the wire: non-empty, no space.
pub fn check_topic(topic: &str) -> Result<(), Error> {
    if topic.is_empty() || topic.contains(' ') {
        return Err(Error::InvalidTopic(topic.to_owned()));
    }
    Ok(())
}

/// Encodes `message` as a PUB/SUB frame into `buf` (cleared first).
///
/// With `topic == None` the topic is the message's `"type"` field when it is a string, else
/// `default_topic`, as the newer Python services do.
///
/// ```
/// use experimance_runtime::wire::encode_frame;
///
/// let mut buf = Vec::new();
/// encode_frame(&mut buf, None, "heartbeat", &serde_json::json!({"era": "modern", "type": "EraChanged"})).unwrap();
/// assert_eq!(buf, br#"EraChanged {"era":"modern","type":"EraChanged"}"#);
/// encode_frame(&mut buf, Some("bad topic"), "heartbeat", &1).unwrap_err();
/// ```
pub fn encode_frame<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    topic: Option<&str>,
    default_topic: &str,
    message: &T,
) -> Result<(), Error> {
    buf.clear();
    match topic {
        Some(topic) => {
            check_topic(topic)?;
            buf.extend_from_slice(topic.as_bytes());
            buf.push(b' ');
            crate::json::write(buf, message)?;
        }
        None => {
            // The JSON goes in first, the topic found in it after, and a rotation puts the
            // topic in front: one encode, no second buffer.
            crate::json::write(buf, message)?;
            let json_len = buf.len();
            let topic = match type_of(buf) {
                Some(Cow::Borrowed(topic)) => {
                    check_topic(topic)?;
                    let start = topic.as_ptr() as usize - buf.as_ptr() as usize;
                    Topic::InJson(start..start + topic.len())
                }
                Some(Cow::Owned(topic)) => {
                    check_topic(&topic)?;
                    Topic::Owned(topic)
                }
                None => {
                    check_topic(default_topic)?;
                    Topic::Default
                }
            };
            match topic {
                Topic::InJson(range) => buf.extend_from_within(range),
                Topic::Owned(topic) => buf.extend_from_slice(topic.as_bytes()),
                Topic::Default => buf.extend_from_slice(default_topic.as_bytes()),
            }
            buf.push(b' ');
            let topic_len = buf.len() - json_len;
            buf.rotate_right(topic_len);
        }
    }
    Ok(())
}

/// Where the topic of a frame without an explicit one comes from.
enum Topic {
    /// The `"type"` string, as it stands in the encoded JSON.
    InJson(Range<usize>),
    /// The `"type"` string, unescaped.
    Owned(String),
    /// The default topic.
    Default,
}

/// Encodes `message` as a PUSH/PULL frame (bare JSON) into `buf` (cleared first).
pub fn encode_task<T: Serialize + ?Sized>(buf: &mut Vec<u8>, message: &T) -> Result<(), Error> {
    buf.clear();
    crate::json::write(buf, message)?;
    Ok(())
}

/// The `"type"` field of a JSON object when it is a string: read where `#[message]` types and
/// the Python models put it, first, without looking further; else found by [`type_field`].
pub(crate) fn type_of(json: &[u8]) -> Option<Cow<'_, str>> {
    if let Some(t) = leading_type(json) {
        return Some(Cow::Borrowed(t));
    }
    // Only an object has fields (serde would read a struct from an array too).
    let first = json.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    type_field(json).or_else(|| {
        // Python's non-finite floats make the object invalid JSON: read it with them as null.
        let as_null = python_floats_as_null(json)?;
        type_field(&as_null).map(|t| Cow::Owned(t.into_owned()))
    })
}

/// `json` with Python's `NaN`, `Infinity` and `-Infinity` tokens outside strings written as
/// `null`; `None` if it has none. One pass, no recursion.
pub(crate) fn python_floats_as_null(json: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    let mut copied = 0;
    while i < json.len() {
        let b = json[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let token = TOKENS.iter().find(|t| json[i..].starts_with(t));
        // A token, not part of a longer word (`NaNa`).
        let whole = token.is_some_and(|t| {
            let after = json.get(i + t.len());
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        });
        match token {
            Some(t) if whole => {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                buf.extend_from_slice(&json[copied..i]);
                buf.extend_from_slice(b"null");
                i += t.len();
                copied = i;
            }
            _ => i += 1,
        }
    }
    let mut out = out?;
    out.extend_from_slice(&json[copied..]);
    Some(out)
}

/// A `"type"` that is the object's first field, a string without escapes.
fn leading_type(json: &[u8]) -> Option<&str> {
    fn skip_space(json: &[u8], mut at: usize) -> usize {
        while json
            .get(at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            at += 1;
        }
        at
    }
    fn expect(json: &[u8], at: usize, what: &[u8]) -> Option<usize> {
        let at = skip_space(json, at);
        json.get(at..at + what.len())
            .filter(|s| *s == what)
            .map(|_| at + what.len())
    }
    let at = expect(json, 0, b"{")?;
    let at = expect(json, at, b"\"type\"")?;
    let at = expect(json, at, b":")?;
    let start = expect(json, at, b"\"")?;
    let len = json[start..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')?;
    if json[start + len] != b'"' {
        return None;
    }
    std::str::from_utf8(&json[start..start + len]).ok()
}

/// The `"type"` field of a JSON object when it is a string: borrowed from `json` unless it
/// has escapes. Other fields, and a `"type"` of another kind, are skipped without allocating.
fn type_field(json: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Typed<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<TypeValue<'a>>,
    }
    match serde_json::from_slice::<Typed>(json).ok()?.kind? {
        TypeValue::Str(s) => Some(s),
        TypeValue::Other => None,
    }
}

/// Any JSON value, kept only when it is a string.
enum TypeValue<'a> {
    Str(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for TypeValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyValue<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for AnyValue<'a> {
            type Value = TypeValue<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TypeValue::Str(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TypeValue::Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(TypeValue::Str(Cow::Owned(v)))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(TypeValue::Other)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                IgnoredAny::deserialize(d)?;
                Ok(TypeValue::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TypeValue::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TypeValue::Other)
            }
        }

        deserializer.deserialize_any(AnyValue(std::marker::PhantomData))
    }
}

/// A short, printable preview of a payload for log lines: at most 80 characters of it (an
/// invalid byte counts as one), escaped as [`Untrusted`](crate::Untrusted) does, with `…`
/// when there is more.
///
/// ```
/// use experimance_runtime::wire::preview;
///
/// assert_eq!(preview(b"{\"a\":1}\n\x1b[31m"), r#"{"a":1}\n\u{1b}[31m"#);
/// assert_eq!(preview(&[b'x'; 100]).chars().count(), 81);
/// ```
pub fn preview(bytes: &[u8]) -> String {
    clipped(bytes, 80)
}

/// At most `max` characters of `bytes` (an invalid byte counts as one), escaped as
/// [`Untrusted`](crate::Untrusted) does, with `…` when there is more: for any text a peer
/// controls, whose length a log line must not take from the peer.
pub(crate) fn clipped(bytes: &[u8], max: usize) -> String {
    let mut taken = 0;
    let mut end = 0;
    'count: for chunk in bytes[..bytes.len().min(max.saturating_mul(4))].utf8_chunks() {
        let sizes = chunk.valid().chars().map(char::len_utf8);
        for size in sizes.chain(chunk.invalid().iter().map(|_| 1)) {
            if taken == max {
                break 'count;
            }
            taken += 1;
            end += size;
        }
    }
    let mut out = crate::Untrusted(&bytes[..end]).to_string();
    if end < bytes.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_type_is_read_first_where_it_usually_is() {
        for (json, expected) in [
            (
                r#"{"type":"RenderRequest","width":1}"#,
                Some("RenderRequest"),
            ),
            (
                r#" { "type" : "ImageReady" , "uri": "x"}"#,
                Some("ImageReady"),
            ),
            (r#"{"width":1,"type":"Later"}"#, Some("Later")),
            (r#"{"type":"Esc\u0061ped"}"#, Some("Escaped")),
            (r#"{"type":3}"#, None),
            (r#"{"kind":"X"}"#, None),
            (r#"["type"]"#, None),
            (r#"{"type":"unterminated"#, None),
            (r#"{"value": NaN, "type": "Reading"}"#, Some("Reading")),
        ] {
            assert_eq!(
                super::type_of(json.as_bytes()).as_deref(),
                expected,
                "{json}"
            );
        }
    }

    use serde::ser::{SerializeMap, Serializer};
    use serde_json::json;

    use super::*;

    fn frame<T: Serialize + ?Sized>(message: &T) -> Result<String, Error> {
        // Stale bytes from an earlier frame must not leak into the next one.
        let mut buf = b"stale bytes".to_vec();
        encode_frame(&mut buf, None, "heartbeat", message)?;
        Ok(String::from_utf8(buf).expect("UTF-8"))
    }

    /// Writes the key `type` twice, as a `#[serde(flatten)]` collision can.
    struct TwoTypes;

    impl Serialize for TwoTypes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "A")?;
            map.serialize_entry("type", "B")?;
            map.end()
        }
    }

    #[test]
    fn the_type_string_is_the_topic() {
        assert_eq!(
            frame(&json!({"era": "modern", "type": "EraChanged"})).unwrap(),
            r#"EraChanged {"era":"modern","type":"EraChanged"}"#
        );
        // Escaped in the JSON, unescaped in the topic.
        assert_eq!(
            frame(&json!({"type": "Ä\"x"})).unwrap(),
            "Ä\"x {\"type\":\"Ä\\\"x\"}"
        );
    }

    #[test]
    fn anything_but_a_type_string_gives_the_default_topic() {
        for message in [
            json!({"type": 5}),
            json!({"type": -1.5}),
            json!({"type": true}),
            json!({"type": null}),
            json!({"type": ["A"]}),
            json!({"type": {"type": "Inner"}}),
            json!({"inner": {"type": "Nested"}}),
            json!({}),
            json!([{"type": "A"}]),
            json!("EraChanged"),
            json!(1),
        ] {
            let json = serde_json::to_string(&message).unwrap();
            assert_eq!(frame(&message).unwrap(), format!("heartbeat {json}"));
        }
        // A custom `Serialize` that writes `"type"` twice: the first names the topic, read
        // where `#[message]` types write it, without looking further.
        assert_eq!(frame(&TwoTypes).unwrap(), r#"A {"type":"A","type":"B"}"#);
    }

    #[test]
    fn a_type_that_is_no_topic_is_an_error() {
        assert!(matches!(
            frame(&json!({"type": "Era Changed"})),
            Err(Error::InvalidTopic(t)) if t == "Era Changed"
        ));
        assert!(matches!(frame(&json!({"type": ""})), Err(Error::InvalidTopic(t)) if t.is_empty()));
    }

    #[test]
    fn a_large_frame_keeps_every_byte() {
        let pad = "x".repeat(100_000);
        let out = frame(&json!({"pad": pad, "type": "Big"})).unwrap();
        assert_eq!(out, format!(r#"Big {{"pad":"{pad}","type":"Big"}}"#));
    }
}
