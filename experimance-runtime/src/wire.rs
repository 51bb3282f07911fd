//! The byte formats of WIRE.md: `<topic> <json>` on PUB/SUB, bare JSON on PUSH/PULL.

use std::fmt;

use serde::Serialize;

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
/// must be UTF-8 text, as WIRE.md says: JSON decoding alone would not look inside the parts
/// of a document the handler's type ignores.
///
/// ```
/// use experimance_runtime::wire::{split_frame, FrameError};
///
/// assert_eq!(split_frame(b"era {\"a\":1}"), Ok(("era", &b"{\"a\":1}"[..])));
/// assert_eq!(split_frame(b"era"), Err(FrameError::NoSpace));
/// ```
pub fn split_frame(frame: &[u8]) -> Result<(&str, &[u8]), FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    let space = frame
        .iter()
        .position(|&b| b == b' ')
        .ok_or(FrameError::NoSpace)?;
    let text = std::str::from_utf8(frame).map_err(|_| FrameError::NotUtf8)?;
    Ok((&text[..space], &frame[space + 1..]))
}

/// Checks a PUSH/PULL frame: non-empty UTF-8 text.
///
/// ```
/// use experimance_runtime::wire::{check_task, FrameError};
///
/// assert_eq!(check_task(b"{\"task\":1}"), Ok(()));
/// assert_eq!(check_task(b"{\"task\":\"\xff\"}"), Err(FrameError::NotUtf8));
/// ```
pub fn check_task(frame: &[u8]) -> Result<(), FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    std::str::from_utf8(frame).map_err(|_| FrameError::NotUtf8)?;
    Ok(())
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
/// encode_frame(&mut buf, None, "heartbeat", &serde_json::json!({"type": "EraChanged", "era": "modern"})).unwrap();
/// assert_eq!(buf, br#"EraChanged {"type":"EraChanged","era":"modern"}"#);
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
            serde_json::to_writer(&mut *buf, message)?;
        }
        None => {
            let json = serde_json::to_vec(message)?;
            let topic = type_field(&json);
            let topic = topic.as_deref().unwrap_or(default_topic);
            check_topic(topic)?;
            buf.extend_from_slice(topic.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(&json);
        }
    }
    Ok(())
}

/// Encodes `message` as a PUSH/PULL frame (bare JSON) into `buf` (cleared first).
pub fn encode_task<T: Serialize + ?Sized>(buf: &mut Vec<u8>, message: &T) -> Result<(), Error> {
    buf.clear();
    serde_json::to_writer(&mut *buf, message)?;
    Ok(())
}

fn type_field(json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Typed>(json).ok()?.kind? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// A short, printable preview of a payload for log lines: at most 80 characters, lossy UTF-8.
pub fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX * 4)]);
    let mut out: String = text.chars().take(MAX).collect();
    if out.len() < text.len() || bytes.len() > MAX * 4 {
        out.push('…');
    }
    out
}
