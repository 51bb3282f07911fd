//! The model of `#[service(...)]`: every key with the token it came from, for spans.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{LitStr, Token};

use crate::duration::parse_millis;
use crate::errors::{did_you_mean, Errors};

pub(crate) const NAME: &str = "name";
pub(crate) const PUB: &str = "pub";
pub(crate) const SUB: &str = "sub";
pub(crate) const PUSH: &str = "push";
pub(crate) const PULL: &str = "pull";
pub(crate) const TOPICS: &str = "topics";
pub(crate) const HEARTBEAT: &str = "heartbeat";
pub(crate) const HEARTBEAT_INTERVAL: &str = "heartbeat_interval";
pub(crate) const STATS_INTERVAL: &str = "stats_interval";
pub(crate) const SERVICE_TYPE: &str = "service_type";

const KEYS: [&str; 10] = [
    NAME,
    PUB,
    SUB,
    PUSH,
    PULL,
    TOPICS,
    HEARTBEAT,
    HEARTBEAT_INTERVAL,
    STATS_INTERVAL,
    SERVICE_TYPE,
];

/// The socket keys, in the order of `Role` in the runtime.
pub(crate) const ROLES: [&str; 4] = [PUB, SUB, PUSH, PULL];

const TRANSPORTS: [&str; 7] = ["tcp", "ipc", "inproc", "pgm", "epgm", "ws", "vmci"];

#[derive(Default)]
pub(crate) struct ServiceAttr {
    pub(crate) name: Option<LitStr>,
    /// `pub`, `sub`, `push`, `pull`.
    pub(crate) addresses: [Option<LitStr>; 4],
    pub(crate) topics: Option<Vec<LitStr>>,
    pub(crate) heartbeat: Option<LitStr>,
    pub(crate) heartbeat_interval: Option<u64>,
    /// `Some(None)` is `stats_interval = "off"`.
    pub(crate) stats_interval: Option<Option<u64>>,
    pub(crate) service_type: Option<LitStr>,
}

impl ServiceAttr {
    /// Parses the attribute's arguments, reporting every mistake into `errors`.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> ServiceAttr {
        let mut attr = ServiceAttr::default();
        let parser = syn::meta::parser(|meta| {
            if let Err(e) = attr.parse_key(&meta) {
                errors.push(e);
                // Skip the rest of this key's value so the next keys are still checked.
                if meta.input.peek(Token![=]) {
                    let _ = meta.value().and_then(|v| v.parse::<syn::Expr>());
                }
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, args) {
            errors.push(e);
        }
        attr
    }

    fn parse_key(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        let key = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        let repeated = || meta.error(format!("`{key}` specified more than once"));
        match key.as_str() {
            NAME => {
                let lit = string(meta)?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
                }
                set(&mut self.name, lit, repeated)
            }
            PUB | SUB | PUSH | PULL => {
                let lit = string(meta)?;
                check_address(&lit)?;
                let index = ROLES.iter().position(|r| *r == key).unwrap_or(0);
                set(&mut self.addresses[index], lit, repeated)
            }
            TOPICS => {
                let list = topic_list(meta)?;
                set(&mut self.topics, list, repeated)
            }
            HEARTBEAT => {
                let lit = string(meta)?;
                check_topic(&lit)?;
                set(&mut self.heartbeat, lit, repeated)
            }
            HEARTBEAT_INTERVAL => {
                let lit = string(meta)?;
                let millis =
                    parse_millis(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
                set(&mut self.heartbeat_interval, millis, repeated)
            }
            STATS_INTERVAL => {
                let lit = string(meta)?;
                let value = match lit.value().trim() {
                    "off" => None,
                    text => Some(
                        parse_millis(text)
                            .map_err(|e| syn::Error::new(lit.span(), format!("{e}, or \"off\"")))?,
                    ),
                };
                set(&mut self.stats_interval, value, repeated)
            }
            SERVICE_TYPE => {
                let lit = string(meta)?;
                set(&mut self.service_type, lit, repeated)
            }
            _ => {
                let hint = did_you_mean(&key, &KEYS)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                Err(syn::Error::new_spanned(
                    path,
                    format!(
                        "unknown key `{}` in #[service]{hint} The keys are: {}",
                        quote::ToTokens::to_token_stream(path),
                        KEYS.join(", ")
                    ),
                ))
            }
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T, repeated: impl Fn() -> syn::Error) -> syn::Result<()> {
    if slot.is_some() {
        return Err(repeated());
    }
    *slot = Some(value);
    Ok(())
}

fn string(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value.parse::<LitStr>().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a string literal, like \"tcp://*:5555\" or \"5s\"",
        )
    })
}

fn topic_list(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let value = meta.value()?;
    let content;
    let brackets = syn::bracketed!(content in value);
    let topics: Punctuated<LitStr, Token![,]> = content.parse_terminated(
        |input| {
            input.parse::<LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a topic as a string literal, like \"era\"",
                )
            })
        },
        Token![,],
    )?;
    if topics.is_empty() {
        return Err(syn::Error::new(
            brackets.span.join(),
            "`topics` is empty, so the SUB socket would receive nothing; list the topics, or use [\"\"] to receive every topic",
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for topic in &topics {
        if !topic.value().is_empty() {
            check_topic(topic)?;
        }
        if seen.contains(&topic.value()) {
            return Err(syn::Error::new(
                topic.span(),
                format!("topic `{}` is listed twice", topic.value()),
            ));
        }
        seen.push(topic.value());
    }
    Ok(topics.into_iter().collect())
}

/// A topic as it may appear on the wire: non-empty, without spaces.
pub(crate) fn check_topic(lit: &LitStr) -> syn::Result<()> {
    let topic = lit.value();
    if topic.is_empty() {
        return Err(syn::Error::new(lit.span(), "a topic must not be empty"));
    }
    if topic.contains(char::is_whitespace) {
        return Err(syn::Error::new(
            lit.span(),
            format!("topic `{topic}` contains whitespace; on the wire the first space separates the topic from the JSON"),
        ));
    }
    Ok(())
}

fn check_address(lit: &LitStr) -> syn::Result<()> {
    let text = lit.value();
    let address = text.trim().trim_start_matches(['@', '>']);
    let valid = address
        .split_once("://")
        .is_some_and(|(transport, rest)| TRANSPORTS.contains(&transport) && !rest.is_empty());
    if valid {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!(
            "invalid address `{text}`: expected `tcp://host:port`, `ipc://path` or `inproc://name`, optionally prefixed with `@` (bind) or `>` (connect)"
        ),
    ))
}
