//! `check DESCRIPTION...`: read the descriptions of an installation's services and report
//! what does not fit together.
//!
//! Findings, each naming the services involved:
//! - `unpublished-topic` (error): a subscription prefix (watched heartbeat topics included)
//!   that no service publishes a topic starting with;
//! - `pull-without-push` (error): a PULL socket no PUSH socket reaches;
//! - `push-without-pull` (warning): a PUSH socket that reaches no PULL socket;
//! - `sub-without-pub` (warning): a SUB socket that reaches no PUB socket;
//! - `duplicate-bind` (error): two sockets binding one address;
//! - `type-mismatch` (error): topic handlers of one topic taking different message types;
//! - `schema-mismatch` (error): handlers of one wire type whose JSON Schemas differ (services
//!   built with the `schemars` feature carry them);
//! - `unpublished-type` (warning): a `#[task]` handler of a wire type that no service
//!   declares in `publishes` (the topics it publishes and the task types it pushes);
//! - `duplicate-name` (warning): two descriptions with one service name.
//!
//! Sockets are matched by address: a socket that connects to X needs a peer that binds X,
//! and one that binds X needs a peer that connects to X. See [`Addr`] for what "the same
//! address" means.

use std::collections::BTreeMap;
use std::io::Read;

use experimance_runtime::{ServiceDescription, SocketDescription, DESCRIPTION_TOPIC};
use serde::Serialize;

use crate::cli::CheckArgs;
use crate::ctx::{Ctx, Out};
use crate::error::{CliError, Result};
use crate::json;

/// Runs `check`.
pub fn run(ctx: &Ctx, args: CheckArgs) -> Result<()> {
    let mut services = Vec::new();
    for path in &args.files {
        services.extend(load(path)?);
    }
    let findings = check(&services);
    let mut out = Out::stdout();
    if args.json {
        let report = Report {
            services: services.iter().map(|s| s.name.as_str()).collect(),
            errors: count(&findings, Severity::Error),
            warnings: count(&findings, Severity::Warning),
            findings: &findings,
        };
        out.line(&json::render(&report, false)?)?;
    } else {
        for finding in &findings {
            out.line(&format!(
                "{}: {}: {}",
                finding.severity.word(),
                finding.kind,
                finding.message
            ))?;
        }
    }
    if findings.is_empty() {
        ctx.info(format!(
            "check: {} service(s), no problems found",
            services.len()
        ));
        return Ok(());
    }
    Err(CliError::runtime(format!(
        "check: {} problem(s) in {} service(s): {} error(s), {} warning(s)",
        findings.len(),
        services.len(),
        count(&findings, Severity::Error),
        count(&findings, Severity::Warning),
    )))
}

fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

/// The `--json` output.
#[derive(Serialize)]
struct Report<'a> {
    services: Vec<&'a str>,
    errors: usize,
    warnings: usize,
    findings: &'a [Finding],
}

/// Reads the descriptions in `path` (`-`: stdin): one JSON object, a JSON array of them, or
/// several objects one after another (JSON lines, as `describe` prints them).
pub fn load(path: &str) -> Result<Vec<ServiceDescription>> {
    let (text, what) = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
        (text, "standard input".to_owned())
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read `{path}`: {e}")))?;
        (text, format!("`{path}`"))
    };
    parse(&text).map_err(|e| CliError::usage(format!("{what}: {e}")))
}

/// Parses the descriptions in `text`.
pub fn parse(text: &str) -> std::result::Result<Vec<ServiceDescription>, String> {
    let bad = |e: serde_json::Error| format!("not a service description: {e}");
    let descriptions: Vec<ServiceDescription> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(bad)?
    } else {
        serde_json::Deserializer::from_str(text)
            .into_iter()
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?
    };
    if descriptions.is_empty() {
        return Err("no service description in it".to_owned());
    }
    for d in &descriptions {
        if d.kind != "ServiceDescription" {
            return Err(format!(
                "not a service description: `type` is {:?}, expected \"ServiceDescription\"",
                d.kind
            ));
        }
    }
    Ok(descriptions)
}

/// How bad a finding is. Both make `check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something cannot work.
    Error,
    /// Something probably does not work, or works only thanks to a peer not described.
    Warning,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem: `unpublished-topic`, `pull-without-push`, ...
    pub kind: &'static str,
    /// The services involved.
    pub services: Vec<String>,
    /// The topic involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The addresses involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// One line saying it all.
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, kind: &'static str, services: Vec<String>, message: String) -> Self {
        Finding {
            severity,
            kind,
            services,
            topic: None,
            addresses: Vec::new(),
            message,
        }
    }

    fn topic(mut self, topic: &str) -> Self {
        self.topic = Some(topic.to_owned());
        self
    }

    fn addresses(mut self, addresses: Vec<String>) -> Self {
        self.addresses = addresses;
        self
    }
}

/// Everything wrong with `services` together, in a stable order: by kind, then in the
/// order of the descriptions.
pub fn check(services: &[ServiceDescription]) -> Vec<Finding> {
    let mut findings = Vec::new();
    duplicate_names(services, &mut findings);
    unpublished_topics(services, &mut findings);
    let sockets = sockets(services);
    unmatched(
        &sockets,
        "pull",
        "push",
        Severity::Error,
        "pull-without-push",
        &mut findings,
    );
    unmatched(
        &sockets,
        "push",
        "pull",
        Severity::Warning,
        "push-without-pull",
        &mut findings,
    );
    unmatched(
        &sockets,
        "sub",
        "pub",
        Severity::Warning,
        "sub-without-pub",
        &mut findings,
    );
    duplicate_binds(&sockets, &mut findings);
    type_mismatches(services, &mut findings);
    schema_mismatches(services, &mut findings);
    unpublished_types(services, &mut findings);
    findings
}

/// Handlers that take one wire type, by wire type: (service, handler's schema) each.
fn by_wire_type(
    services: &[ServiceDescription],
) -> BTreeMap<
    &str,
    Vec<(
        &ServiceDescription,
        &experimance_runtime::HandlerDescription,
    )>,
> {
    let mut all: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for s in services {
        for h in &s.handlers {
            for wire_type in h.wire_types.iter().flatten() {
                all.entry(wire_type.as_str()).or_default().push((s, h));
            }
        }
    }
    all
}

fn schema_mismatches(services: &[ServiceDescription], findings: &mut Vec<Finding>) {
    for (wire_type, handlers) in by_wire_type(services) {
        // A handler of one wire type (not an enum of several) describes that type's schema.
        let schemas: Vec<(&str, serde_json::Value)> = handlers
            .iter()
            .filter(|(_, h)| h.wire_types.as_ref().is_some_and(|t| t.len() == 1))
            .filter_map(|(s, h)| Some((s.name.as_str(), shape(h.schema.as_ref()?))))
            .collect();
        let Some((first_service, first)) = schemas.first() else {
            continue;
        };
        let Some((other_service, _)) = schemas.iter().find(|(_, schema)| schema != first) else {
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        for (name, _) in &schemas {
            if !names.iter().any(|n| n == name) {
                names.push((*name).to_owned());
            }
        }
        findings.push(
            Finding::new(
                Severity::Error,
                "schema-mismatch",
                names,
                format!(
                    "services disagree on the schema of type {wire_type:?}: {first_service}'s differs from {other_service}'s"
                ),
            )
            .topic(wire_type),
        );
    }
}

/// A schema without what does not change what it accepts: titles, descriptions, examples
/// (keywords only: a property or definition may well be called `description`).
fn shape(schema: &serde_json::Value) -> serde_json::Value {
    fn keyword_map(map: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        map.iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "title" | "description" | "examples" | "$schema")
            })
            .map(|(k, v)| {
                let v = match (k.as_str(), v) {
                    // Maps from names to schemas: every entry kept, each one shaped.
                    (
                        "properties" | "$defs" | "definitions" | "patternProperties",
                        serde_json::Value::Object(named),
                    ) => named
                        .iter()
                        .map(|(name, s)| (name.clone(), shape(s)))
                        .collect(),
                    _ => shape(v),
                };
                (k.clone(), v)
            })
            .collect()
    }
    match schema {
        serde_json::Value::Object(map) => keyword_map(map),
        serde_json::Value::Array(items) => items.iter().map(shape).collect(),
        other => other.clone(),
    }
}

fn unpublished_types(services: &[ServiceDescription], findings: &mut Vec<Finding>) {
    let published: Vec<&str> = services
        .iter()
        .flat_map(|s| s.publishes.iter().map(String::as_str))
        .collect();
    for (wire_type, handlers) in by_wire_type(services) {
        if published.contains(&wire_type) {
            continue;
        }
        for (s, h) in handlers.iter().filter(|(_, h)| h.kind == "task") {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    "unpublished-type",
                    vec![s.name.clone()],
                    format!(
                        "{} has a #[task] handler for type {wire_type:?} ({}), but no service declares it in `publishes`",
                        s.name, h.message_type
                    ),
                )
                .topic(wire_type),
            );
        }
    }
}

fn duplicate_names(services: &[ServiceDescription], findings: &mut Vec<Finding>) {
    let mut seen: Vec<(&str, Vec<&ServiceDescription>)> = Vec::new();
    for s in services {
        match seen.iter_mut().find(|(name, _)| *name == s.name) {
            Some((_, all)) => all.push(s),
            None => seen.push((&s.name, vec![s])),
        }
    }
    for (name, all) in seen.into_iter().filter(|(_, all)| all.len() > 1) {
        let same = all.iter().all(|d| *d == all[0]);
        findings.push(Finding::new(
            Severity::Warning,
            "duplicate-name",
            vec![name.to_owned()],
            format!(
                "{} descriptions are of a service named {name}{}",
                all.len(),
                if same {
                    " (the same description given twice?)"
                } else {
                    ""
                }
            ),
        ));
    }
}

/// The topics `service` publishes: its `publishes` (which has its heartbeat topic) and,
/// with a PUB socket, the topics every such service publishes: its description and its
/// statistics (`<name>.stats`), which descriptions do not list (nor say whether stats are
/// turned off: they are taken as on).
pub(crate) fn published(service: &ServiceDescription) -> Vec<String> {
    let mut topics = service.publishes.clone();
    topics.extend(service.heartbeat_topic.clone());
    if service.sockets.iter().any(|s| s.role == "pub") {
        topics.push(DESCRIPTION_TOPIC.to_owned());
        topics.push(experimance_runtime::stats_topic(&service.name));
    }
    topics
}

fn unpublished_topics(services: &[ServiceDescription], findings: &mut Vec<Finding>) {
    let published: Vec<String> = services.iter().flat_map(published).collect();
    for s in services {
        for prefix in &s.subscriptions {
            if published.iter().any(|t| t.starts_with(prefix.as_str())) {
                continue;
            }
            let message = if prefix.is_empty() {
                format!(
                    "{} subscribes to every topic (\"\"), but no service publishes anything",
                    s.name
                )
            } else {
                format!(
                    "{} subscribes to {prefix:?}, but no service publishes a topic starting with it",
                    s.name
                )
            };
            findings.push(
                Finding::new(
                    Severity::Error,
                    "unpublished-topic",
                    vec![s.name.clone()],
                    message,
                )
                .topic(prefix),
            );
        }
    }
}

/// A socket of a described service, with the addresses it is known by.
pub(crate) struct Socket<'a> {
    pub(crate) service: &'a str,
    pub(crate) role: &'a str,
    pub(crate) bind: bool,
    /// As configured.
    address: &'a str,
    /// The configured address and, when running, the endpoint in use (a wildcard port
    /// resolved), parsed; those that name no definite place are left out.
    places: Vec<Addr>,
}

impl Socket<'_> {
    fn label(&self) -> String {
        format!("{}'s {}", self.service, self.role.to_uppercase())
    }

    /// The address to show: the endpoint in use when it says more than the configuration.
    fn shown(&self, description: &SocketDescription) -> String {
        match &description.endpoint {
            Some(endpoint) if endpoint != self.address && self.address.contains('*') => {
                format!("{} ({endpoint})", self.address)
            }
            _ => self.address.to_owned(),
        }
    }
}

pub(crate) fn sockets(services: &[ServiceDescription]) -> Vec<(Socket<'_>, String)> {
    let mut all = Vec::new();
    for s in services {
        for d in &s.sockets {
            let bind = d.direction == "bind";
            let mut places: Vec<Addr> = Vec::new();
            for text in std::iter::once(&d.address).chain(&d.endpoint) {
                if let Some(addr) = Addr::parse(text, bind) {
                    if !places.contains(&addr) {
                        places.push(addr);
                    }
                }
            }
            let socket = Socket {
                service: &s.name,
                role: &d.role,
                bind,
                address: &d.address,
                places,
            };
            let shown = socket.shown(d);
            all.push((socket, shown));
        }
    }
    all
}

/// Whether `a` and `b` (of opposite directions) reach each other.
pub(crate) fn connected(a: &Socket<'_>, b: &Socket<'_>) -> bool {
    if a.bind == b.bind {
        return false;
    }
    let (binder, connecter) = if a.bind { (a, b) } else { (b, a) };
    binder
        .places
        .iter()
        .any(|bound| connecter.places.iter().any(|to| to.reaches(bound)))
}

/// Reports every `role` socket that no `peer` socket reaches.
fn unmatched(
    sockets: &[(Socket<'_>, String)],
    role: &str,
    peer: &str,
    severity: Severity,
    kind: &'static str,
    findings: &mut Vec<Finding>,
) {
    for (i, (socket, shown)) in sockets.iter().enumerate() {
        if socket.role != role {
            continue;
        }
        let reached = sockets
            .iter()
            .enumerate()
            .any(|(j, (other, _))| j != i && other.role == peer && connected(socket, other));
        if reached {
            continue;
        }
        let peer = peer.to_uppercase();
        let mut message = if socket.bind {
            format!(
                "{} binds {shown}, but no {peer} connects to it",
                socket.label()
            )
        } else {
            format!(
                "{} connects to {shown}, an address no {peer} binds",
                socket.label()
            )
        };
        if socket.bind && socket.places.is_empty() {
            message.push_str(
                " (its port is chosen at start: describe the running service to know it)",
            );
        }
        findings.push(
            Finding::new(severity, kind, vec![socket.service.to_owned()], message)
                .addresses(vec![shown.clone()]),
        );
    }
}

fn duplicate_binds(sockets: &[(Socket<'_>, String)], findings: &mut Vec<Finding>) {
    for (i, (a, a_shown)) in sockets.iter().enumerate() {
        for (b, b_shown) in &sockets[i + 1..] {
            if !(a.bind && b.bind) {
                continue;
            }
            let Some(place) = a.places.iter().find_map(|x| {
                b.places
                    .iter()
                    .find_map(|y| x.overlaps(y).then(|| x.place()))
            }) else {
                continue;
            };
            let mut services = vec![a.service.to_owned()];
            if b.service != a.service {
                services.push(b.service.to_owned());
            }
            let addresses = if a_shown == b_shown {
                a_shown.clone()
            } else {
                format!("{a_shown} and {b_shown}")
            };
            findings.push(
                Finding::new(
                    Severity::Error,
                    "duplicate-bind",
                    services,
                    format!(
                        "{} and {} both bind {place}: {addresses}",
                        a.label(),
                        b.label()
                    ),
                )
                .addresses(vec![a_shown.clone(), b_shown.clone()]),
            );
        }
    }
}

fn type_mismatches(services: &[ServiceDescription], findings: &mut Vec<Finding>) {
    // topic -> normalised type -> (the types as written, the services)
    type Uses = BTreeMap<String, (Vec<String>, Vec<String>)>;
    let mut topics: Vec<(&str, Uses)> = Vec::new();
    for s in services {
        for h in &s.handlers {
            let (Some(topic), "topic") = (&h.topic, h.kind.as_str()) else {
                continue;
            };
            // A `#[message]` type of this wire type: its name may differ (`#[message("...")]`,
            // an enum of several); `schema-mismatch` compares what matters, the schemas.
            if accepts_anything(&h.message_type)
                || h.wire_types.as_ref().is_some_and(|t| t.contains(topic))
            {
                continue;
            }
            let uses = match topics.iter_mut().find(|(t, _)| t == topic) {
                Some((_, uses)) => uses,
                None => {
                    topics.push((topic, Uses::new()));
                    &mut topics.last_mut().expect("just pushed").1
                }
            };
            let (written, names) = uses.entry(normalise_type(&h.message_type)).or_default();
            if !written.contains(&h.message_type) {
                written.push(h.message_type.clone());
            }
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    for (topic, uses) in topics {
        if uses.len() < 2 {
            continue;
        }
        let mut services: Vec<String> = Vec::new();
        let parts: Vec<String> = uses
            .values()
            .map(|(written, names)| {
                for name in names {
                    if !services.contains(name) {
                        services.push(name.clone());
                    }
                }
                format!("{} ({})", written.join(" / "), names.join(", "))
            })
            .collect();
        findings.push(
            Finding::new(
                Severity::Error,
                "type-mismatch",
                services,
                format!(
                    "services disagree on the message type of topic {topic:?}: {}",
                    parts.join(" vs ")
                ),
            )
            .topic(topic),
        );
    }
}

/// Whether a handler taking `message_type` takes any JSON (`serde_json::Value`).
fn accepts_anything(message_type: &str) -> bool {
    let t: String = message_type.split_whitespace().collect();
    matches!(
        t.as_str(),
        "serde_json::Value" | "::serde_json::Value" | "Value"
    )
}

/// A type as written, without whitespace and module paths: `crate::messages::EraChanged`
/// and `EraChanged` are the same type to `check`, `Vec<shared::Era>` and `Vec<Era>` too.
fn normalise_type(message_type: &str) -> String {
    let text: String = message_type.split_whitespace().collect();
    let mut out = String::with_capacity(text.len());
    let mut ident = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
            continue;
        }
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            ident.clear();
            continue;
        }
        out.push_str(&ident);
        ident.clear();
        out.push(c);
    }
    out.push_str(&ident);
    out
}

/// Where an address leads, for matching sockets of different services.
///
/// TCP addresses are compared by port and host, with hosts normalised: `localhost`,
/// `127.x.x.x`, `::1` (and `0.0.0.0` or `*` on the connecting side) are the local host; a
/// bind on `*`, `0.0.0.0` or `::` listens on every interface of its machine, which a
/// description does not name, so it matches every host on its port. Other transports
/// (`ipc://`, `inproc://`, ...) are compared as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A TCP address.
    Tcp {
        /// The host.
        host: Host,
        /// The port.
        port: u16,
    },
    /// Any other transport, as written.
    Other(String),
}

/// The host of a TCP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// Every interface (a bind on `*`, `0.0.0.0` or `::`).
    Any,
    /// The local host.
    Local,
    /// Another name or address, lower-cased.
    Named(String),
}

impl Addr {
    /// Parses `address` of a socket that binds (`bind`) or connects. `None` for an address
    /// that names no definite place (a wildcard port, a malformed address).
    pub fn parse(address: &str, bind: bool) -> Option<Addr> {
        let address = address.trim();
        let (transport, rest) = address.split_once("://")?;
        if transport != "tcp" {
            return (!rest.is_empty() && rest != "*").then(|| Addr::Other(address.to_owned()));
        }
        // A connect may name its source first: `tcp://source;host:port`.
        let rest = match rest.rsplit_once(';') {
            Some((_, destination)) if !bind => destination,
            _ => rest,
        };
        let (host, port) = rest.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_ascii_lowercase();
        let host = match host.as_str() {
            "*" | "0.0.0.0" | "::" if bind => Host::Any,
            "*" | "0.0.0.0" | "::" | "localhost" | "::1" | "ip6-localhost" => Host::Local,
            h if h.starts_with("127.") => Host::Local,
            "" => return None,
            _ => Host::Named(host),
        };
        Some(Addr::Tcp { host, port })
    }

    /// Whether a socket connecting to `self` reaches one bound on `bound`.
    pub fn reaches(&self, bound: &Addr) -> bool {
        match (self, bound) {
            (Addr::Tcp { host, port }, Addr::Tcp { host: b, port: p }) => {
                port == p && (*b == Host::Any || host == b)
            }
            (Addr::Other(a), Addr::Other(b)) => a == b,
            _ => false,
        }
    }

    /// Whether two binds on `self` and `other` take the same address.
    pub fn overlaps(&self, other: &Addr) -> bool {
        match (self, other) {
            (Addr::Tcp { host, port }, Addr::Tcp { host: h, port: p }) => {
                port == p && (*host == Host::Any || *h == Host::Any || host == h)
            }
            (Addr::Other(a), Addr::Other(b)) => a == b,
            _ => false,
        }
    }

    /// `port N` or the address.
    fn place(&self) -> String {
        match self {
            Addr::Tcp { port, .. } => format!("port {port}"),
            Addr::Other(address) => address.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tcp(host: Host, port: u16) -> Option<Addr> {
        Some(Addr::Tcp { host, port })
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(Addr::parse("tcp://*:5556", true), tcp(Host::Any, 5556));
        assert_eq!(
            Addr::parse("tcp://0.0.0.0:5556", true),
            tcp(Host::Any, 5556)
        );
        assert_eq!(Addr::parse("tcp://[::]:5556", true), tcp(Host::Any, 5556));
        assert_eq!(
            Addr::parse("tcp://0.0.0.0:5556", false),
            tcp(Host::Local, 5556)
        );
        assert_eq!(
            Addr::parse("tcp://LocalHost:5556", false),
            tcp(Host::Local, 5556)
        );
        assert_eq!(
            Addr::parse("tcp://127.0.0.1:5556", true),
            tcp(Host::Local, 5556)
        );
        assert_eq!(
            Addr::parse("tcp://[::1]:5556", true),
            tcp(Host::Local, 5556)
        );
        assert_eq!(
            Addr::parse("tcp://192.168.1.2;Display:5556", false),
            tcp(Host::Named("display".into()), 5556)
        );
        assert_eq!(Addr::parse("tcp://127.0.0.1:*", true), None);
        assert_eq!(Addr::parse("tcp://127.0.0.1:0", true), None);
        assert_eq!(Addr::parse("garbage", true), None);
        assert_eq!(
            Addr::parse("ipc:///tmp/feed", true),
            Some(Addr::Other("ipc:///tmp/feed".into()))
        );
        assert_eq!(Addr::parse("ipc://*", true), None);
    }

    #[test]
    fn reaching_and_overlapping() {
        let p = |a: &str, bind: bool| Addr::parse(a, bind).unwrap();
        let any = p("tcp://*:5556", true);
        for to in [
            "tcp://localhost:5556",
            "tcp://127.0.0.1:5556",
            "tcp://0.0.0.0:5556",
            "tcp://display:5556",
        ] {
            assert!(p(to, false).reaches(&any), "{to}");
        }
        assert!(!p("tcp://localhost:5557", false).reaches(&any));
        let local = p("tcp://127.0.0.1:5556", true);
        assert!(p("tcp://localhost:5556", false).reaches(&local));
        assert!(!p("tcp://display:5556", false).reaches(&local));
        assert!(any.overlaps(&local) && local.overlaps(&any));
        assert!(local.overlaps(&p("tcp://localhost:5556", true)));
        assert!(!local.overlaps(&p("tcp://display:5556", true)));
        assert!(!local.overlaps(&p("tcp://localhost:5557", true)));
        assert!(!p("ipc:///a", false).reaches(&local));
        assert!(p("ipc:///a", false).reaches(&p("ipc:///a", true)));
    }

    #[test]
    fn types_are_compared_without_paths_and_spaces() {
        assert_eq!(normalise_type("crate::messages::EraChanged"), "EraChanged");
        assert_eq!(normalise_type("std::vec::Vec< shared::Era >"), "Vec<Era>");
        assert_eq!(
            normalise_type("HashMap<String, ::a::B>"),
            "HashMap<String,B>"
        );
        assert!(accepts_anything("serde_json :: Value"));
        assert!(!accepts_anything("EraChanged"));
    }

    #[test]
    fn parse_takes_objects_arrays_and_lines() {
        let one = json!({
            "type": "ServiceDescription", "name": "A", "service_type": "service",
            "sockets": [], "subscriptions": [], "handlers": [], "publishes": [],
            "heartbeat_topic": null, "heartbeat_interval": 5.0, "watch": []
        });
        let mut two = one.clone();
        two["name"] = json!("B");
        assert_eq!(parse(&one.to_string()).unwrap().len(), 1);
        assert_eq!(parse(&json!([one, two]).to_string()).unwrap().len(), 2);
        assert_eq!(parse(&format!("{one}\n{two}\n")).unwrap().len(), 2);
        assert!(parse("  \n")
            .unwrap_err()
            .contains("no service description"));
        assert!(parse("[]").unwrap_err().contains("no service description"));
        let mut other = one.clone();
        other["type"] = json!("Heartbeat");
        assert!(parse(&other.to_string()).unwrap_err().contains("`type`"));
        assert!(parse("{\"type\": \"ServiceDescription\"}")
            .unwrap_err()
            .contains("missing field"));
    }
}
