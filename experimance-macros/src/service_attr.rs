//! The model of `#[service(...)]`: every key with the token it came from, for spans.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Token};

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
pub(crate) const WATCH: &str = "watch";
pub(crate) const PEER_INTERVAL: &str = "peer_interval";
pub(crate) const HWM: &str = "hwm";
pub(crate) const MAX_MESSAGE_SIZE: &str = "max_message_size";
pub(crate) const DRAIN_TIMEOUT: &str = "drain_timeout";
pub(crate) const SEND_QUEUE: &str = "send_queue";
pub(crate) const SEND_TIMEOUT: &str = "send_timeout";
pub(crate) const MAX_SUBSCRIPTION_SIZE: &str = "max_subscription_size";
pub(crate) const MAX_SUBSCRIPTIONS: &str = "max_subscriptions";
pub(crate) const ZMTP_HEARTBEAT: &str = "zmtp_heartbeat";
pub(crate) const USERNAME: &str = "username";
pub(crate) const PASSWORD: &str = "password";
pub(crate) const ALLOW: &str = "allow";
pub(crate) const CURVE: &str = "curve";
pub(crate) const CURVE_SECRET_KEY: &str = "curve_secret_key";
pub(crate) const CURVE_PUBLIC_KEY: &str = "curve_public_key";
pub(crate) const CURVE_SERVER_KEY: &str = "curve_server_key";
pub(crate) const CURVE_ALLOW: &str = "curve_allow";
pub(crate) const PUBLISHES: &str = "publishes";
pub(crate) const DEFAULT_TOPIC: &str = "default_topic";
pub(crate) const HUB: &str = "hub";

const KEYS: [&str; 31] = [
    NAME,
    PUB,
    SUB,
    PUSH,
    PULL,
    TOPICS,
    HEARTBEAT,
    HEARTBEAT_INTERVAL,
    DEFAULT_TOPIC,
    STATS_INTERVAL,
    SERVICE_TYPE,
    WATCH,
    PEER_INTERVAL,
    HWM,
    MAX_MESSAGE_SIZE,
    DRAIN_TIMEOUT,
    SEND_QUEUE,
    SEND_TIMEOUT,
    MAX_SUBSCRIPTION_SIZE,
    MAX_SUBSCRIPTIONS,
    ZMTP_HEARTBEAT,
    USERNAME,
    PASSWORD,
    ALLOW,
    CURVE,
    CURVE_SECRET_KEY,
    CURVE_PUBLIC_KEY,
    CURVE_SERVER_KEY,
    CURVE_ALLOW,
    PUBLISHES,
    HUB,
];

/// The socket keys, in the order of `Role` in the runtime.
pub(crate) const ROLES: [&str; 4] = [PUB, SUB, PUSH, PULL];

const TRANSPORTS: [&str; 7] = ["tcp", "ipc", "inproc", "pgm", "epgm", "ws", "vmci"];

#[derive(Default)]
pub(crate) struct ServiceAttr {
    pub(crate) name: Option<LitStr>,
    /// `pub`, `sub`, `push`, `pull`: one address or several each.
    pub(crate) addresses: [Option<Vec<LitStr>>; 4],
    pub(crate) topics: Option<Vec<LitStr>>,
    pub(crate) heartbeat: Option<LitStr>,
    /// `Some(None)` is `heartbeat_interval = "off"`.
    pub(crate) heartbeat_interval: Option<Option<u64>>,
    pub(crate) default_topic: Option<LitStr>,
    /// `hub`, with the key's span for cross-key errors.
    pub(crate) hub: Option<(proc_macro2::Span, Vec<LitStr>)>,
    /// `Some(None)` is `stats_interval = "off"`.
    pub(crate) stats_interval: Option<Option<u64>>,
    pub(crate) service_type: Option<LitStr>,
    /// The `watch` key, with the key's span for cross-key errors.
    pub(crate) watch: Option<(proc_macro2::Span, Vec<LitStr>)>,
    pub(crate) peer_interval: Option<u64>,
    pub(crate) hwm: Option<i32>,
    pub(crate) max_message_size: Option<i64>,
    pub(crate) drain_timeout: Option<u64>,
    pub(crate) send_queue: Option<usize>,
    pub(crate) send_timeout: Option<u64>,
    pub(crate) max_subscription_size: Option<i64>,
    pub(crate) max_subscriptions: Option<usize>,
    /// `Some(None)` is `zmtp_heartbeat = "off"`.
    pub(crate) zmtp_heartbeat: Option<Option<u64>>,
    pub(crate) username: Option<LitStr>,
    pub(crate) password: Option<LitStr>,
    pub(crate) allow: Option<Vec<LitStr>>,
    pub(crate) curve: Option<bool>,
    /// `curve_secret_key`, `curve_public_key`, `curve_server_key`: a key file, or (not the
    /// secret) a key.
    pub(crate) curve_keys: [Option<LitStr>; 3],
    pub(crate) curve_allow: Option<Vec<LitStr>>,
    pub(crate) publishes: Option<Vec<LitStr>>,
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
        if let (Some((span, _)), None) = (&attr.watch, &attr.addresses[1]) {
            errors.push(syn::Error::new(
                *span,
                "`watch` follows heartbeats that arrive on the SUB socket: add `sub = \"...\"`",
            ));
        }
        if let (Some((span, _)), Some(_)) = (&attr.hub, &attr.addresses[0]) {
            errors.push(syn::Error::new(
                *span,
                "`hub` is for a service without a PUB socket; this one sends its heartbeats on its `pub`: connect that to the hub instead (`pub = \">tcp://hub:PORT\"`)",
            ));
        }
        if attr.username.is_some() != attr.password.is_some() {
            let (lit, missing) = match (&attr.username, &attr.password) {
                (Some(lit), _) => (lit, PASSWORD),
                (_, Some(lit)) => (lit, USERNAME),
                _ => unreachable!(),
            };
            errors.push(syn::Error::new(
                lit.span(),
                format!("PLAIN authentication needs both `username` and `password`; add `{missing}` (or set it at run time with the EXPERIMANCE_<NAME>_{} variable)", missing.to_uppercase()),
            ));
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
                let list = address_list(meta, &key)?;
                let index = ROLES.iter().position(|r| *r == key).unwrap_or(0);
                set(&mut self.addresses[index], list, repeated)
            }
            HUB => {
                let span = path
                    .get_ident()
                    .map(|i| i.span())
                    .unwrap_or_else(proc_macro2::Span::call_site);
                let list = address_list(meta, &key)?;
                set(&mut self.hub, (span, list), repeated)
            }
            DEFAULT_TOPIC => {
                let lit = string(meta)?;
                check_topic(&lit)?;
                set(&mut self.default_topic, lit, repeated)
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
            PEER_INTERVAL | DRAIN_TIMEOUT | SEND_TIMEOUT => {
                let millis = duration(meta)?;
                let slot = match key.as_str() {
                    PEER_INTERVAL => &mut self.peer_interval,
                    SEND_TIMEOUT => &mut self.send_timeout,
                    _ => &mut self.drain_timeout,
                };
                set(slot, millis, repeated)
            }
            HEARTBEAT_INTERVAL | STATS_INTERVAL | ZMTP_HEARTBEAT => {
                let value = duration_or_off(meta)?;
                let slot = match key.as_str() {
                    HEARTBEAT_INTERVAL => &mut self.heartbeat_interval,
                    STATS_INTERVAL => &mut self.stats_interval,
                    _ => &mut self.zmtp_heartbeat,
                };
                set(slot, value, repeated)
            }
            SERVICE_TYPE => {
                let lit = string(meta)?;
                set(&mut self.service_type, lit, repeated)
            }
            WATCH => {
                let span = path
                    .get_ident()
                    .map(|i| i.span())
                    .unwrap_or_else(proc_macro2::Span::call_site);
                let list = string_list(meta, WATCH, "\"mypub.heartbeat\"")?;
                for topic in &list {
                    check_topic(topic)?;
                }
                set(&mut self.watch, (span, list), repeated)
            }
            HWM => {
                let lit: LitInt = integer(meta)?;
                let hwm = lit
                    .base10_parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        syn::Error::new(
                            lit.span(),
                            "`hwm` is a number of messages from 0 (no limit) to 2147483647",
                        )
                    })?;
                set(&mut self.hwm, hwm, repeated)
            }
            MAX_MESSAGE_SIZE | MAX_SUBSCRIPTION_SIZE => {
                let value: Expr = meta.value()?.parse()?;
                let bytes = parse_size(&key, &value)?;
                let slot = if key == MAX_MESSAGE_SIZE {
                    &mut self.max_message_size
                } else {
                    &mut self.max_subscription_size
                };
                set(slot, bytes, repeated)
            }
            SEND_QUEUE | MAX_SUBSCRIPTIONS => {
                let lit: LitInt = integer(meta)?;
                let what = if key == SEND_QUEUE {
                    "messages"
                } else {
                    "subscriptions"
                };
                let count = lit
                    .base10_parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        syn::Error::new(
                            lit.span(),
                            format!("`{key}` is a number of {what} from 1 to 4294967295"),
                        )
                    })?;
                let slot = if key == SEND_QUEUE {
                    &mut self.send_queue
                } else {
                    &mut self.max_subscriptions
                };
                set(slot, count as usize, repeated)
            }
            USERNAME | PASSWORD => {
                let lit = string(meta)?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("`{key}` must not be empty"),
                    ));
                }
                let slot = if key == USERNAME {
                    &mut self.username
                } else {
                    &mut self.password
                };
                set(slot, lit, repeated)
            }
            ALLOW => {
                let list = string_list(meta, ALLOW, "\"127.0.0.1\", \"10.0.0.0/24\"")?;
                for entry in &list {
                    check_network(entry)?;
                }
                set(&mut self.allow, list, repeated)
            }
            PUBLISHES => {
                let list = string_list(meta, PUBLISHES, "\"era\", \"idle\"")?;
                for topic in &list {
                    check_topic(topic)?;
                }
                set(&mut self.publishes, list, repeated)
            }
            CURVE_SECRET_KEY | CURVE_PUBLIC_KEY | CURVE_SERVER_KEY => {
                let lit = string(meta)?;
                let value = lit.value();
                if value.trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("`{key}` must not be empty: a key file, or remove the key"),
                    ));
                }
                if key == CURVE_SECRET_KEY && crate::z85::looks_like_key(value.trim()) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a CURVE secret key does not belong in the source: give the path of a \
                         key file (as `experimance keygen` writes), or set it at run time with \
                         the EXPERIMANCE_<NAME>_CURVE_SECRET_KEY variable (a path of \
                         exactly 40 characters reads as a key here: lengthen it with a `./`)",
                    ));
                }
                let index = [CURVE_SECRET_KEY, CURVE_PUBLIC_KEY, CURVE_SERVER_KEY]
                    .iter()
                    .position(|k| *k == key)
                    .unwrap_or(0);
                set(&mut self.curve_keys[index], lit, repeated)
            }
            CURVE_ALLOW => {
                let list = string_list(meta, CURVE_ALLOW, "\"keys/display.key\"")?;
                set(&mut self.curve_allow, list, repeated)
            }
            CURVE => {
                let value: syn::LitBool = meta
                    .value()?
                    .parse()
                    .map_err(|e| syn::Error::new(e.span(), "`curve` takes `true` or `false`"))?;
                set(&mut self.curve, value.value, repeated)
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
            HEARTBEAT_INTERVAL | STATS_INTERVAL | PEER_INTERVAL | DRAIN_TIMEOUT | SEND_TIMEOUT
            | ZMTP_HEARTBEAT => "\"5s\"",
            HEARTBEAT => "\"my_service.heartbeat\"",
            DEFAULT_TOPIC => "\"core.events\"",
            _ => "\"...\"",
        };
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a string literal: `{key} = {example}`"),
        )
    })
}

/// A duration string, in milliseconds.
fn duration(meta: &ParseNestedMeta) -> syn::Result<u64> {
    let lit = string(meta)?;
    parse_millis(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))
}

/// A duration string or `"off"` (`None`).
fn duration_or_off(meta: &ParseNestedMeta) -> syn::Result<Option<u64>> {
    let lit = string(meta)?;
    match lit.value().trim() {
        "off" => Ok(None),
        text => parse_millis(text)
            .map(Some)
            .map_err(|e| syn::Error::new(lit.span(), format!("{e}, or \"off\""))),
    }
}

fn integer(meta: &ParseNestedMeta) -> syn::Result<LitInt> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default();
    meta.value()?.parse::<LitInt>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a whole number: `{key} = 1000`"),
        )
    })
}

/// `16777216`, `"16MiB"`, `"64KiB"`, `"1GiB"`: the value of the size key `key`.
fn parse_size(key: &str, value: &Expr) -> syn::Result<i64> {
    let invalid = || {
        syn::Error::new_spanned(
            value,
            format!("`{key}` takes bytes: a number like `16777216`, or a string like \"16MiB\", \"64KiB\""),
        )
    };
    let bytes = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        }) => n.base10_parse::<i64>().map_err(|_| invalid())?,
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => match crate::duration::parse_bytes(&s.value()) {
            Ok(bytes) => bytes,
            Err(e) if e.contains("at least") => 0,
            Err(_) => return Err(invalid()),
        },
        _ => return Err(invalid()),
    };
    if bytes <= 0 {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be at least 1 byte"),
        ));
    }
    Ok(bytes)
}

fn check_network(lit: &LitStr) -> syn::Result<()> {
    let text = lit.value();
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text.as_str(), None),
    };
    let max = match address.trim().parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_ipv4() => 32,
        Ok(_) => 128,
        Err(_) => {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{text}` is not an IP address or CIDR network, like \"127.0.0.1\" or \"10.0.0.0/24\""),
            ))
        }
    };
    if let Some(prefix) = prefix {
        if !prefix.parse::<u8>().is_ok_and(|p| p <= max) {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{text}`: the prefix length must be 0 to {max}"),
            ));
        }
    }
    Ok(())
}

/// A non-empty list of string literals, for `watch` and `allow`.
fn string_list(meta: &ParseNestedMeta, key: &str, example: &str) -> syn::Result<Vec<LitStr>> {
    let value: Expr = meta.value()?.parse()?;
    let Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a list: `{key} = [{example}]`"),
        ));
    };
    literals(
        array,
        format!("`{key}` is empty; list at least one entry, or remove the key"),
        format!("expected a string literal, like {example}"),
    )
}

/// The string literals of a non-empty array: `empty` is the error of an empty one, at its
/// brackets; `expected` the error of each entry that is not a string literal, at the entry.
fn literals(
    array: syn::ExprArray,
    empty: impl std::fmt::Display,
    expected: impl std::fmt::Display,
) -> syn::Result<Vec<LitStr>> {
    if array.elems.is_empty() {
        return Err(syn::Error::new(
            array.bracket_token.span.join(),
            empty.to_string(),
        ));
    }
    let mut items = Vec::new();
    let mut errors = Errors::default();
    for elem in array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => items.push(s),
            other => errors.at(other, &expected),
        }
    }
    errors.into_result()?;
    Ok(items)
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
    let topics = literals(
        array,
        "`topics` is empty, so the SUB socket would receive nothing; list the topics, or use [\"\"] to receive every topic",
        "expected a topic as a string literal, like \"era\"",
    )?;
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

/// One address, or a non-empty list of addresses, each checked at its own token.
fn address_list(meta: &ParseNestedMeta, key: &str) -> syn::Result<Vec<LitStr>> {
    let value: Expr = meta.value()?.parse()?;
    let example = match key {
        PUB | PUSH => "\"tcp://*:5555\"",
        _ => "\"tcp://localhost:5555\"",
    };
    let items = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => vec![s],
        Expr::Array(array) => literals(
            array,
            format!("`{key}` lists no address; give at least one, like `{key} = [{example}]`"),
            format!("expected an address as a string literal, like {example}"),
        )?,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes an address or a list of addresses: `{key} = {example}` or `{key} = [{example}, ...]`"),
            ))
        }
    };
    let mut errors = Errors::default();
    for (i, lit) in items.iter().enumerate() {
        if let Err(e) = check_address(lit) {
            errors.push(e);
        } else if items[..i]
            .iter()
            .any(|other| other.value().trim() == lit.value().trim())
        {
            errors.at(lit, format!("address `{}` is listed twice", lit.value()));
        }
    }
    errors.into_result()?;
    Ok(items)
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
        assert_eq!(attr.heartbeat_interval, Some(Some(1500)));
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
    fn parses_reliability_and_security_keys() {
        let (attr, errors) = parse(quote! {
            sub = "tcp://localhost:1", watch = ["a.heartbeat"], peer_interval = "2s", hwm = 5000,
            max_message_size = "64KiB", drain_timeout = "3s", zmtp_heartbeat = "off",
            username = "u", password = "p", allow = ["127.0.0.1", "10.0.0.0/8", "::1"], curve = false,
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.watch.unwrap().1[0].value(), "a.heartbeat");
        assert_eq!(attr.peer_interval, Some(2000));
        assert_eq!(attr.hwm, Some(5000));
        assert_eq!(attr.max_message_size, Some(65536));
        assert_eq!(attr.drain_timeout, Some(3000));
        assert_eq!(attr.zmtp_heartbeat, Some(None));
        assert_eq!(attr.allow.unwrap().len(), 3);
        assert_eq!(attr.curve, Some(false));
        let (attr, errors) = parse(quote! {
            pub = "tcp://*:1", curve = true, curve_secret_key = "keys/core.key_secret",
            curve_public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            curve_server_key = "keys/server.key", curve_allow = ["keys/a.key", "keys/b.key"],
        });
        assert!(errors.is_empty(), "{errors:?}");
        let keys = attr.curve_keys.map(|k| k.map(|l| l.value()));
        assert_eq!(keys[0].as_deref(), Some("keys/core.key_secret"));
        assert_eq!(keys[2].as_deref(), Some("keys/server.key"));
        assert_eq!(attr.curve_allow.unwrap().len(), 2);
        // A secret key written out is refused; so is an empty key file.
        let (_, errors) = parse(quote!(
            curve_secret_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        ));
        assert!(
            errors[0].contains("does not belong in the source"),
            "{errors:?}"
        );
        let (_, errors) = parse(quote!(curve_server_key = " "));
        assert!(errors[0].contains("must not be empty"), "{errors:?}");
        let (attr, errors) = parse(quote!(pull = "tcp://localhost:1", max_message_size = 1024));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.max_message_size, Some(1024));
        let (attr, errors) = parse(quote! {
            push = "tcp://*:1", send_queue = 10, send_timeout = "250ms",
            max_subscription_size = "4KiB", max_subscriptions = 50,
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.send_queue, Some(10));
        assert_eq!(attr.send_timeout, Some(250));
        assert_eq!(attr.max_subscription_size, Some(4096));
        assert_eq!(attr.max_subscriptions, Some(50));
        let (_, errors) = parse(quote!(
            push = "tcp://*:1",
            send_queue = 0,
            max_subscription_size = "0B"
        ));
        assert!(errors[0].contains("`send_queue` is a number"), "{errors:?}");
        assert!(
            errors[1].contains("`max_subscription_size` must be at least"),
            "{errors:?}"
        );
    }

    #[test]
    fn checks_reliability_and_security_keys() {
        let (_, errors) = parse(quote!(pub = "tcp://*:1", watch = ["x.heartbeat"]));
        assert!(
            errors[0].starts_with("`watch` follows heartbeats"),
            "{errors:?}"
        );
        let (_, errors) = parse(quote!(password = "p"));
        assert!(errors[0].contains("add `username`"), "{errors:?}");
        let (_, errors) = parse(quote!(allow = ["10.0.0.0/40", "host"]));
        assert_eq!(
            errors.len(),
            1,
            "the first bad entry is reported: {errors:?}"
        );
        let (_, errors) = parse(quote!(hwm = -1, max_message_size = "0KiB", curve = "yes"));
        assert_eq!(errors.len(), 3, "{errors:?}");
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
