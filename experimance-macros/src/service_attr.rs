//! The model of `#[service(...)]`: every key with the token it came from, for spans.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Lit, LitStr, Token};

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
                while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    meta.input.parse::<proc_macro2::TokenTree>()?;
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
        let key = meta
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let example = match key.as_str() {
            PUB | PUSH => "\"tcp://*:5555\"",
            SUB | PULL => "\"tcp://localhost:5555\"",
            HEARTBEAT_INTERVAL | STATS_INTERVAL => "\"5s\"",
            HEARTBEAT => "\"my_service.heartbeat\"",
            _ => "\"...\"",
        };
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a string literal: `{key} = {example}`"),
        )
    })
}

fn topic_list(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    // Parsed as any expression, so a wrong value is one error at that value.
    let value: Expr = meta.value()?.parse()?;
    let Expr::Array(array) = value else {
        let example = match &value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => format!("{TOPICS} = [\"{}\"]", s.value()),
            _ => format!("{TOPICS} = [\"era\", \"idle\"]"),
        };
        return Err(syn::Error::new_spanned(
            value,
            format!("`{TOPICS}` takes a list of topics: `{example}`"),
        ));
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new(
            array.bracket_token.span.join(),
            "`topics` is empty, so the SUB socket would receive nothing; list the topics, or use [\"\"] to receive every topic",
        ));
    }
    let mut topics = Vec::new();
    let mut errors = Errors::default();
    for elem in array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => topics.push(s),
            other => errors.at(other, "expected a topic as a string literal, like \"era\""),
        }
    }
    errors.into_result()?;
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
    Ok(topics)
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

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::ServiceAttr;
    use crate::errors::Errors;

    fn parse(args: proc_macro2::TokenStream) -> (ServiceAttr, Vec<String>) {
        let mut errors = Errors::default();
        let attr = ServiceAttr::parse(args, &mut errors);
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (attr, messages)
    }

    #[test]
    fn parses_every_key() {
        let (attr, errors) = parse(quote! {
            name = "Ctl", pub = "tcp://*:1", sub = ">tcp://localhost:2", push = "@ipc://x",
            pull = "inproc://y", topics = ["era", ""], heartbeat = "ctl.heartbeat",
            heartbeat_interval = "1.5s", stats_interval = "off", service_type = "controller",
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.name.unwrap().value(), "Ctl");
        assert!(attr.addresses.iter().all(Option::is_some));
        let topics: Vec<String> = attr.topics.unwrap().iter().map(|t| t.value()).collect();
        assert_eq!(topics, ["era", ""]);
        assert_eq!(attr.heartbeat_interval, Some(1500));
        assert_eq!(attr.stats_interval, Some(None));
    }

    #[test]
    fn reports_every_mistake_and_keeps_the_valid_keys() {
        let (attr, errors) = parse(quote! {
            topic = ["era"], heartbeat_interval = 5, pub = "tcp://*:1", stats_interval = "soon",
        });
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("did you mean `topics`?"));
        assert_eq!(
            errors[1],
            "`heartbeat_interval` takes a string literal: `heartbeat_interval = \"5s\"`"
        );
        assert!(errors[2].contains("or \"off\""));
        assert!(attr.addresses[0].is_some());
    }

    #[test]
    fn rejects_repeated_keys() {
        let (_, errors) = parse(quote!(pub = "tcp://*:1", pub = "tcp://*:2"));
        assert_eq!(errors, ["`pub` specified more than once"]);
    }

    #[test]
    fn checks_the_topic_list() {
        let (_, errors) = parse(quote!(topics = "era"));
        assert_eq!(
            errors,
            ["`topics` takes a list of topics: `topics = [\"era\"]`"]
        );
        let (_, errors) = parse(quote!(topics = ["era", idle, 3]));
        assert_eq!(errors.len(), 2, "{errors:?}");
        let (_, errors) = parse(quote!(topics = []));
        assert!(errors[0].starts_with("`topics` is empty"));
        let (_, errors) = parse(quote!(topics = ["era", "era"]));
        assert_eq!(errors, ["topic `era` is listed twice"]);
        let (_, errors) = parse(quote!(topics = ["era changed"]));
        assert!(errors[0].contains("contains whitespace"));
    }

    #[test]
    fn checks_addresses() {
        let (_, errors) = parse(quote!(sub = "localhost:5555"));
        assert!(errors[0].starts_with("invalid address `localhost:5555`"));
        let (_, errors) = parse(quote!(sub = "tcp://"));
        assert_eq!(errors.len(), 1);
    }
}
