//! What generated dispatch code calls: decoding, handler outcomes, and panic containment.
//!
//! Its public items are `#[doc(hidden)]`: generated code reaches them through `__private`,
//! and users never name them.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use serde::Deserialize;

use crate::error::HandlerError;

/// Whether a message found a handler.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// A handler took the message.
    Yes,
    /// No handler matches the topic (possible because SUB filters by prefix) and there is
    /// no catch-all, or a PULL message arrived at a service with no `#[task]` handler.
    NoHandler,
}

/// What generated dispatch returns for one message.
#[doc(hidden)]
pub type DispatchResult = Result<Handled, HandlerError>;

/// Decodes a JSON payload straight from the frame's text into the handler's message type.
///
/// The frame was checked to be UTF-8 once, when it was split ([`crate::wire::split_frame`],
/// [`crate::wire::check_task`]), so serde_json reads it as text and checks no string again.
/// `T` may borrow from the frame (`&'a str` fields, `Cow<'a, str>` with `#[serde(borrow)]`):
/// the frame outlives the handler's call.
#[doc(hidden)]
#[inline]
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a str) -> Result<T, HandlerError> {
    decode_json(payload).map_err(HandlerError::Decode)
}

/// Python's `json.dumps` writes the non-finite floats as `NaN`, `Infinity` and `-Infinity`,
/// which JSON does not have and serde_json refuses. A payload refused with a syntax error
/// that is valid JSON once those tokens (outside strings) are read as `null` is read again
/// with a JSON5 reader, which takes them as floats (`null` in a `serde_json::Value`, which
/// cannot hold them); otherwise serde_json's error stands. The check first makes the retry
/// take nothing else JSON5 allows (comments, single quotes), and no deeper nesting than
/// serde_json's (the JSON5 reader has no depth limit of its own).
pub(crate) fn python_floats<'a, T: Deserialize<'a>>(
    payload: &'a str,
    error: serde_json::Error,
) -> Result<T, serde_json::Error> {
    if error.classify() != serde_json::error::Category::Syntax {
        return Err(error);
    }
    let Some(as_null) = crate::wire::python_floats_as_null(payload.as_bytes()) else {
        return Err(error);
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&as_null).is_err() {
        return Err(error);
    }
    json5::from_str(payload).map_err(|_| error)
}

/// Decodes `json` as serde_json does, and Python's non-finite floats as [`python_floats`]
/// says (for generated `#[message]` code).
#[doc(hidden)]
pub fn decode_json<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(json).or_else(|e| python_floats(json, e))
}

/// What a handler, hook, timer or task may return: `()` or `Result<(), E>` with `E: Display`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid handler return type",
    label = "handlers return `()` or `Result<(), E>`",
    note = "return `()`, or `Result<(), E>` where `E` implements `Display` (an error is counted and logged, and the service keeps running)"
)]
pub trait Outcome {
    /// `Ok` or the error's text.
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    #[inline]
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> Outcome for Result<(), E> {
    #[inline]
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Turns a handler's return value into a dispatch result.
#[doc(hidden)]
#[inline]
pub fn outcome<O: Outcome>(output: O) -> DispatchResult {
    output
        .into_result()
        .map(|()| Handled::Yes)
        .map_err(HandlerError::Failed)
}

/// A future that turns a panic while polling `F` into `Err(panic message)`.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every public item here is for generated code: `#[doc(hidden)]`, so that the front page
    /// of the docs lists what users write. (The root re-exports them for code that names
    /// them; an item's own attribute also hides it where the facade re-exports the runtime.)
    #[test]
    fn public_items_are_hidden_from_the_docs() {
        let source = include_str!("dispatch.rs");
        let source = &source[..source.find("#[cfg(test)]").expect("the tests")];
        let lines: Vec<&str> = source.lines().collect();
        let mut public = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix("pub ") else {
                continue;
            };
            public.push(rest.split(['<', '(', ' ']).nth(1).unwrap_or(rest));
            // The attributes and doc comments above the item.
            let mut above = lines[..index].iter().rev().take_while(|l| {
                l.starts_with("#[")
                    || l.starts_with("///")
                    || l.starts_with("    ")
                    || l.starts_with(")]")
            });
            assert!(
                above.any(|l| *l == "#[doc(hidden)]"),
                "`{line}` is not #[doc(hidden)]"
            );
        }
        assert_eq!(
            public,
            [
                "Handled",
                "DispatchResult",
                "decode",
                "decode_json",
                "Outcome",
                "outcome"
            ]
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Era {
        era: String,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Reading {
        value: f64,
        high: f64,
        low: f64,
        label: String,
    }

    #[test]
    fn python_non_finite_floats_decode_into_floats() {
        let r: Reading = decode(
            r#"{"value": NaN, "high": Infinity, "low": -Infinity, "label": "NaN or Infinity"}"#,
        )
        .unwrap();
        assert!(r.value.is_nan());
        assert_eq!((r.high, r.low), (f64::INFINITY, f64::NEG_INFINITY));
        assert_eq!(r.label, "NaN or Infinity");
        // Into a `Value`, which cannot hold them: `null`.
        let v: serde_json::Value = decode(r#"{"value": NaN}"#).unwrap();
        assert_eq!(v, serde_json::json!({"value": null}));
        // Where the type wants no float, serde_json's error stands.
        let e = decode::<Era>(r#"{"era": NaN}"#).unwrap_err().to_string();
        assert!(e.contains("expected value"), "{e}");
        // Other invalid JSON is not read leniently, even beside a NaN, nor a NaN in a string.
        assert!(decode::<Era>(r#"{"era": 'single quotes'}"#).is_err());
        assert!(
            decode::<Reading>(r#"{"value": NaN, "high": 1, "low": 2, "label": 'x', /* c */}"#)
                .is_err()
        );
        assert!(decode::<Era>(r#"{"era": "NaN", }"#).is_err());
        // Deep nesting beside a NaN is refused without recursing (a stack overflow would end
        // the process): serde_json's depth limit holds on the retry too.
        let deep = format!(r#"{{"n": NaN, "x": {}"#, "[".repeat(200_000));
        assert!(decode::<serde_json::Value>(&deep).is_err());
    }

    #[test]
    fn decode_reads_the_payload_text() {
        let era: Era = decode(r#"{"era":"modern \u00e9","other":[1,{"x":null}]}"#).unwrap();
        assert_eq!(era.era, "modern é");
        let era: Era = decode(r#"{"era":"modern é"}"#).unwrap();
        assert_eq!(era.era, "modern é");
        assert!(matches!(
            decode::<Era>(r#"{"era":1}"#),
            Err(HandlerError::Decode(_))
        ));
    }
}
