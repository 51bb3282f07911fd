//! Procedural macros of [`experimance`](https://docs.rs/experimance). Use them through that
//! crate: `use experimance::{service, handlers};`.
//!
//! Each macro parses its input into a model (`service_attr`, `handler`), checks it, and
//! expands to a trait impl that calls into `experimance::__private`.

use proc_macro::TokenStream;

// One parser for durations, shared with the runtime (which reads them in configuration files).
#[path = "../../experimance-runtime/src/duration.rs"]
mod duration;
// One test of "is this a CURVE key written out", shared with the runtime.
mod errors;
mod expand_handlers;
mod expand_message;
mod expand_service;
mod handler;
mod service_attr;
#[path = "../../experimance-runtime/src/z85.rs"]
mod z85;

/// Declares a service on a struct. See the `experimance` crate for the keys.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_service::expand(args.into(), input.into()).into()
}

/// Marks the `impl` block whose `#[topic]`, `#[catch_all]`, `#[task]`, `#[every]`,
/// `#[on_start]` and `#[on_stop]` methods are a service's handlers.
#[proc_macro_attribute]
pub fn handlers(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_handlers::expand(args.into(), input.into()).into()
}

/// Declares a message type with a wire type: on a struct, `"type": "<Name>"` is written first
/// and checked on arrival; on an enum of such structs, a closed set of types. See the
/// `experimance` crate.
#[proc_macro_attribute]
pub fn message(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_message::expand(args.into(), input.into()).into()
}
