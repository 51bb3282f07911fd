//! JSON in and out: validating input, classifying received frames, and the output lines.

use experimance_runtime::wire::{check_task, preview, split_frame, FrameError};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::{CliError, Result};

/// Checks that `text` is one JSON document.
pub fn validate(text: &str) -> std::result::Result<(), serde_json::Error> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map(|_| ())
}

/// Checks a message given on the command line or on stdin (`what` says where, for the
/// error) and returns it trimmed: it is sent as written.
pub fn message<'a>(text: &'a str, what: &str) -> Result<&'a str> {
    let text = text.trim();
    validate(text).map_err(|e| CliError::usage(format!("bad JSON in {what}: {e}")))?;
    Ok(text)
}

/// A valid JSON document, serialized without being parsed into a map: key order and number
/// spelling are kept. Compact output keeps the bytes as they came (unless they span several
/// lines); pretty output re-indents.
pub struct Json<'a> {
    text: &'a str,
    pretty: bool,
}

impl<'a> Json<'a> {
    /// Wraps `text`, which must be valid JSON.
    pub fn new(text: &'a str, pretty: bool) -> Json<'a> {
        Json { text, pretty }
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        if !self.pretty && !self.text.contains(['\n', '\r']) {
            let raw: &RawValue =
                serde_json::from_str(self.text).map_err(serde::ser::Error::custom)?;
            return raw.serialize(serializer);
        }
        let mut de = serde_json::Deserializer::from_str(self.text);
        serde_transcode::transcode(&mut de, serializer)
    }
}

/// A received message, classified.
pub enum Received<'a> {
    /// A well-formed message: topic (PUB/SUB only) and JSON text.
    Message {
        /// The topic, for PUB/SUB.
        topic: Option<&'a str>,
        /// The JSON payload.
        json: &'a str,
    },
    /// Something the protocol does not allow.
    Malformed {
        /// Why.
        reason: String,
        /// The topic, when the frame had one.
        topic: Option<&'a str>,
    },
}

/// Classifies a PUB/SUB message: one frame, `<topic> <json>`.
pub fn classify_sub(frames: &[Vec<u8>]) -> Received<'_> {
    let frame = match frames {
        [frame] => frame,
        [] => return malformed(FrameError::Empty.to_string(), None),
        _ => return malformed(FrameError::MultiFrame.to_string(), None),
    };
    match split_frame(frame) {
        Ok((topic, payload)) => payload_json(payload, Some(topic)),
        Err(e) => malformed(e.to_string(), None),
    }
}

/// Classifies a PUSH/PULL message: one frame of JSON.
pub fn classify_pull(frames: &[Vec<u8>]) -> Received<'_> {
    match frames {
        [frame] => match check_task(frame) {
            Ok(text) => payload_json(text, None),
            Err(e) => malformed(e.to_string(), None),
        },
        [] => malformed(FrameError::Empty.to_string(), None),
        _ => malformed(FrameError::MultiFrame.to_string(), None),
    }
}

/// Classifies a frame's text, already known to be UTF-8 (`split_frame`, `check_task`).
fn payload_json<'a>(text: &'a str, topic: Option<&'a str>) -> Received<'a> {
    match validate(text) {
        Ok(()) => Received::Message {
            topic,
            json: text.trim(),
        },
        Err(e) => malformed(format!("malformed payload: not JSON: {e}"), topic),
    }
}

fn malformed(reason: String, topic: Option<&str>) -> Received<'_> {
    Received::Malformed { reason, topic }
}

/// One message as printed by `tap`, `pull` and written by `record`.
#[derive(serde::Serialize)]
pub struct MessageLine<'a> {
    /// Seconds since the recording started (`record` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// The topic (PUB/SUB only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<&'a str>,
    /// The JSON payload.
    pub message: Json<'a>,
}

/// One malformed message as printed by `tap`, `pull` and written by `record`.
#[derive(serde::Serialize)]
pub struct MalformedLine<'a> {
    /// Seconds since the recording started (`record` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// Why the message is malformed.
    pub malformed: &'a str,
    /// The topic, when the frame had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<&'a str>,
    /// A short lossy preview of the first frame (`tap`, `pull`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// The first frame, exactly, when it is UTF-8 (`record`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    /// The first frame in hex, when it is not UTF-8 (`record`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
}

impl<'a> MalformedLine<'a> {
    /// The line of `tap` and `pull`: reason, topic if any, and a preview.
    pub fn shown(reason: &'a str, topic: Option<&'a str>, frames: &[Vec<u8>]) -> Self {
        MalformedLine {
            t: None,
            malformed: reason,
            topic,
            preview: Some(preview(frames.first().map_or(&[][..], Vec::as_slice))),
            raw: None,
            raw_hex: None,
        }
    }

    /// The line of `record`: reason and the raw first frame, so that `replay` can send it.
    pub fn recorded(t: f64, reason: &'a str, frames: &'a [Vec<u8>]) -> Self {
        let frame = frames.first().map_or(&[][..], Vec::as_slice);
        let (raw, raw_hex) = match std::str::from_utf8(frame) {
            Ok(text) => (Some(text), None),
            Err(_) => (None, Some(hex(frame))),
        };
        MalformedLine {
            t: Some(t),
            malformed: reason,
            topic: None,
            preview: None,
            raw,
            raw_hex,
        }
    }
}

/// Serializes a line, compact or indented.
pub fn render<T: serde::Serialize>(line: &T, pretty: bool) -> Result<String> {
    let text = if pretty {
        serde_json::to_string_pretty(line)
    } else {
        serde_json::to_string(line)
    };
    text.map_err(|e| CliError::runtime(format!("cannot format output: {e}")))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex `text`.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_order_and_bytes() {
        let text = r#"{"type": "EraChanged", "b": 1.50, "a": [1, 2]}"#;
        let line = MessageLine {
            t: None,
            topic: Some("era"),
            message: Json::new(text, false),
        };
        assert_eq!(
            render(&line, false).unwrap(),
            format!(r#"{{"topic":"era","message":{text}}}"#)
        );
        let pretty = render(
            &MessageLine {
                t: None,
                topic: None,
                message: Json::new(text, true),
            },
            true,
        )
        .unwrap();
        assert!(pretty.find("\"type\"").unwrap() < pretty.find("\"b\"").unwrap());
        assert!(pretty.contains("\n    \"a\": [\n"));
    }

    #[test]
    fn multi_line_json_is_compacted() {
        let line = MessageLine {
            t: None,
            topic: None,
            message: Json::new("{\n \"z\": 1,\n \"a\": 2\n}", false),
        };
        assert_eq!(
            render(&line, false).unwrap(),
            r#"{"message":{"z":1,"a":2}}"#
        );
    }

    #[test]
    fn classify() {
        let ok = vec![b"era {\"a\":1}".to_vec()];
        assert!(matches!(
            classify_sub(&ok),
            Received::Message {
                topic: Some("era"),
                json: "{\"a\":1}"
            }
        ));
        let bad = vec![b"nospace".to_vec()];
        assert!(matches!(
            classify_sub(&bad),
            Received::Malformed { topic: None, .. }
        ));
        let not_json = vec![b"era {oops".to_vec()];
        assert!(matches!(
            classify_sub(&not_json),
            Received::Malformed {
                topic: Some("era"),
                ..
            }
        ));
        assert!(matches!(
            classify_pull(&[b"1".to_vec(), b"2".to_vec()]),
            Received::Malformed { .. }
        ));
        assert!(matches!(
            classify_pull(&[b"{\"task\":1}".to_vec()]),
            Received::Message {
                topic: None,
                json: "{\"task\":1}"
            }
        ));
        for (frame, error) in [
            (b"".to_vec(), FrameError::Empty),
            (b"{\"task\":\"\xff\"}".to_vec(), FrameError::NotUtf8),
        ] {
            let Received::Malformed {
                reason,
                topic: None,
            } = classify_pull(&[frame])
            else {
                panic!("a {error:?} task frame is malformed");
            };
            assert_eq!(reason, error.to_string());
        }
    }

    #[test]
    fn hex_roundtrip() {
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
