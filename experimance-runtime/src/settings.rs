//! What a run of a service uses. Each key comes from the first of: what the program set on
//! the [`Runner`](crate::Runner), the environment (`EXPERIMANCE_<NAME>_<KEY>`), the
//! configuration file, the `#[service]` attribute. Every key of the attribute can be set by
//! the environment and the file; lists are comma-separated in the environment.

use std::time::Duration;

use crate::address::{env_var_name, Addresses, Direction, Endpoint, Role};
use crate::auth::{Auth, Network};
use crate::config::{Config, ServiceConfig};
use crate::curve::{self, Curve, Part};
use crate::error::Error;
use crate::service::{AuthSpec, ServiceSpec};
use crate::socket::SocketOptions;

/// What the program set on the runner; `None` defers to the environment, the file and the
/// attribute. (No `Debug`: it holds a password.)
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    /// The name given by `Runner::with_name`: the service's name, and the name its keys are
    /// looked up by.
    pub(crate) name: Option<String>,
    pub(crate) addresses: [Option<Addresses>; 4],
    pub(crate) hwm: [Option<i32>; 4],
    pub(crate) max_message_size: Option<i64>,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) send_queue: Option<usize>,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) max_subscription_size: Option<i64>,
    pub(crate) max_subscriptions: Option<usize>,
    pub(crate) zmtp_heartbeat: Option<Option<Duration>>,
    pub(crate) plain: Option<Option<(String, String)>>,
    pub(crate) allow: Option<Vec<String>>,
    /// CURVE given in code (`None` inside: off).
    pub(crate) curve: Option<Option<Curve>>,
    /// A configuration file given by the program; else the file named by a `--config PATH`
    /// argument or by `EXPERIMANCE_CONFIG` is read at start.
    pub(crate) config: Option<Config>,
}

/// The resolved settings of one run. (No `Debug`: it holds a password.)
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) service_type: String,
    pub(crate) addresses: [Option<Addresses>; 4],
    /// The SUB subscriptions: the topics, then the watched heartbeat topics.
    pub(crate) subscriptions: Vec<String>,
    pub(crate) heartbeat_topic: String,
    pub(crate) default_topic: String,
    pub(crate) heartbeat_interval: Option<Duration>,
    pub(crate) stats_interval: Option<Duration>,
    pub(crate) watch: Vec<String>,
    pub(crate) publishes: Vec<String>,
    pub(crate) peer_interval: Duration,
    pub(crate) sockets: [SocketOptions; 4],
    pub(crate) drain_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) max_subscriptions: usize,
    pub(crate) auth: Auth,
}

impl Settings {
    /// The endpoints of `role`, each with its direction resolved.
    pub(crate) fn endpoints(&self, role: Role) -> Vec<Endpoint> {
        self.addresses[role.index()]
            .iter()
            .flat_map(Addresses::iter)
            .map(|a| Endpoint::parse(role, a))
            .collect()
    }
}

impl Overrides {
    /// The name the keys are looked up by: the program's, else the attribute's.
    pub(crate) fn lookup_name<'a>(&'a self, spec: &'a ServiceSpec) -> &'a str {
        self.name.as_deref().unwrap_or(spec.name)
    }

    /// The service's name: the program's, else `EXPERIMANCE_<NAME>_NAME`, else the `name` of
    /// the configuration file (the program's, else the one `--config` or
    /// `EXPERIMANCE_CONFIG` names, if it can be read), else the attribute's.
    pub(crate) fn name(&self, spec: &ServiceSpec) -> String {
        self.named(spec).unwrap_or_else(|| spec.name.to_owned())
    }

    /// The name the environment or the file gives, if it is one a service can go by (not
    /// empty, no whitespace: `<name>.stats` is a topic); else the program's or attribute's.
    fn named(&self, spec: &ServiceSpec) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        let loaded;
        let config = match &self.config {
            Some(config) => Some(config),
            None => {
                loaded = Config::from_args_or_env().ok().flatten();
                loaded.as_ref()
            }
        };
        let name = env(spec.name, "NAME")
            .map(|n| n.trim().to_owned())
            .or_else(|| config?.service(spec.name)?.name.clone())?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            tracing::warn!(service = spec.name, name = %crate::Untrusted::str(&name), "a service name has no whitespace (it starts the stats topic); keeping the name in the code");
            return None;
        }
        Some(name)
    }

    /// The addresses of `role` as they stand now (without reading a configuration file that
    /// only `EXPERIMANCE_CONFIG` names).
    pub(crate) fn addresses(&self, spec: &ServiceSpec, role: Role) -> Option<Addresses> {
        let name = self.lookup_name(spec);
        let file = self.config.as_ref().and_then(|c| c.service(name));
        addresses(self, file, spec, name, role)
    }

    /// Resolves every key for a run of the service described by `spec`, whose handlers take
    /// `handler_topics`.
    pub(crate) fn resolve(
        &self,
        spec: &ServiceSpec,
        handler_topics: &[&str],
    ) -> Result<Settings, Error> {
        let name = self.lookup_name(spec);
        let loaded;
        let config = match &self.config {
            Some(config) => Some(config),
            None => {
                loaded = crate::config::Config::from_args_or_env()?;
                loaded.as_ref()
            }
        };
        let file = config.and_then(|c| c.service(name));
        let config_error = |message: String| Error::Config {
            service: name.to_owned(),
            message,
        };
        let plain = match &self.plain {
            Some(plain) => plain.clone(),
            None => {
                let username = env(name, "USERNAME")
                    .or_else(|| file.and_then(|f| f.username.clone()))
                    .or(spec.auth.username.map(str::to_owned));
                let password = env(name, "PASSWORD")
                    .or_else(|| file.and_then(|f| f.password.clone()))
                    .or(spec.auth.password.map(str::to_owned));
                match (username, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => {
                        return Err(config_error(
                            "PLAIN authentication needs both a username and a password".to_owned(),
                        ))
                    }
                }
            }
        };
        let allow = key(
            self.allow.clone(),
            name,
            "ALLOW",
            list,
            file.and_then(|f| f.allow.clone()),
            strings(spec.auth.allow),
        )?;
        let allow = allow
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<Network>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error(format!("invalid `allow` entry: {e}")))?;
        let curve = match &self.curve {
            Some(curve) => curve.clone(),
            None => resolve_curve(name, file, &spec.auth).map_err(config_error)?,
        };
        let auth = Auth {
            plain,
            allow,
            curve,
        };
        auth.check_supported(name)?;
        let duration = crate::config::parse_duration;
        let drain_timeout = key(
            self.drain_timeout,
            name,
            "DRAIN_TIMEOUT",
            duration,
            file.and_then(|f| f.drain_timeout),
            spec.drain_timeout,
        )?;
        let send_queue = key(
            self.send_queue,
            name,
            "SEND_QUEUE",
            number,
            file.and_then(|f| f.send_queue),
            spec.send_queue,
        )?;
        let send_timeout = key(
            self.send_timeout,
            name,
            "SEND_TIMEOUT",
            duration,
            file.and_then(|f| f.send_timeout),
            spec.send_timeout,
        )?;
        let max_subscription_size = key(
            self.max_subscription_size,
            name,
            "MAX_SUBSCRIPTION_SIZE",
            crate::duration::parse_bytes,
            file.and_then(|f| f.max_subscription_size),
            spec.max_subscription_size,
        )?;
        let max_subscriptions = key(
            self.max_subscriptions,
            name,
            "MAX_SUBSCRIPTIONS",
            number,
            file.and_then(|f| f.max_subscriptions),
            spec.max_subscriptions,
        )?;
        if send_queue == 0 {
            return Err(config_error(
                "`send_queue` must be at least 1 message".to_owned(),
            ));
        }
        if max_subscriptions == 0 {
            return Err(config_error(
                "`max_subscriptions` must be at least 1".to_owned(),
            ));
        }
        if max_subscription_size < 1 {
            return Err(config_error(
                "`max_subscription_size` must be at least 1 byte".to_owned(),
            ));
        }
        let zmtp_heartbeat = key(
            self.zmtp_heartbeat,
            name,
            "ZMTP_HEARTBEAT",
            duration_or_off,
            file.and_then(|f| f.zmtp_heartbeat),
            spec.zmtp_heartbeat,
        )?;
        let max_message_size = key(
            self.max_message_size,
            name,
            "MAX_MESSAGE_SIZE",
            crate::duration::parse_bytes,
            file.and_then(|f| f.max_message_size),
            spec.max_message_size,
        )?;
        let hwm = env_parsed(name, "HWM", number)?.or(file.and_then(|f| f.hwm));
        let hwm = match hwm.or(spec.hwm) {
            Some(hwm) if hwm < 0 => {
                return Err(config_error(
                    "`hwm` must be 0 (no limit) or more messages".to_owned(),
                ))
            }
            hwm => hwm,
        };
        let mut addresses: [Option<Addresses>; 4] = Default::default();
        for role in Role::ALL {
            addresses[role.index()] = addresses_checked(self, file, spec, name, role, &auth)?;
        }
        let hub = env(name, "HUB")
            .map(|list| Addresses::split(&list))
            .filter(|a| !a.is_empty())
            .or_else(|| file.and_then(|f| f.hub.clone()))
            .or_else(|| spec.hub.map(Addresses::from));
        if let Some(hub) = hub {
            if spec.has(Role::Pub) {
                return Err(config_error(
                    "`hub` is for a service without a PUB socket; this one sends its heartbeats on its PUB: connect that to the hub (`pub = \">tcp://hub:PORT\"`)".to_owned(),
                ));
            }
            // A hub is reached: connecting is the default.
            let hub: Vec<String> = hub
                .iter()
                .map(|a| match a.trim().starts_with(['@', '>']) {
                    true => a.to_owned(),
                    false => format!(">{}", a.trim()),
                })
                .collect();
            addresses[Role::Pub.index()] = Some(hub.into());
        }
        if self.hwm.iter().flatten().any(|hwm| *hwm < 0) {
            return Err(config_error(
                "`hwm` must be 0 (no limit) or more messages".to_owned(),
            ));
        }
        let sockets = std::array::from_fn(|i| SocketOptions {
            linger: drain_timeout,
            hwm: self.hwm[i].or(hwm),
            max_message_size,
            max_subscription_size,
            zmtp_heartbeat,
            plain: auth.plain.clone(),
            curve: auth.curve.clone(),
            zap: auth.enabled(),
        });
        let topic = |key_name: &str, value: String| -> Result<String, Error> {
            check_topic(&value)
                .map(|()| value)
                .map_err(|e| config_error(format!("`{key_name}`: {e}")))
        };
        let heartbeat_topic = topic(
            "heartbeat",
            key(
                None,
                name,
                "HEARTBEAT",
                text,
                file.and_then(|f| f.heartbeat.clone()),
                spec.heartbeat_topic.to_owned(),
            )?,
        )?;
        let default_topic = key(
            None,
            name,
            "DEFAULT_TOPIC",
            |t| Ok(Some(t.to_owned())),
            file.and_then(|f| f.default_topic.clone()).map(Some),
            spec.default_topic.map(str::to_owned),
        )?;
        let default_topic = match default_topic {
            Some(t) => topic("default_topic", t)?,
            None => heartbeat_topic.clone(),
        };
        let watch = key(
            None,
            name,
            "WATCH",
            list,
            file.and_then(|f| f.watch.clone()),
            strings(spec.watch),
        )?;
        for watched in &watch {
            check_topic(watched).map_err(|e| config_error(format!("`watch`: {e}")))?;
        }
        if !watch.is_empty() && !spec.has(Role::Sub) {
            return Err(config_error(
                "`watch` follows heartbeats that arrive on the SUB socket, and this service has none".to_owned(),
            ));
        }
        let publishes = key(
            None,
            name,
            "PUBLISHES",
            list,
            file.and_then(|f| f.publishes.clone()),
            strings(spec.publishes),
        )?;
        for published in &publishes {
            check_topic(published).map_err(|e| config_error(format!("`publishes`: {e}")))?;
        }
        let topics = key(
            None,
            name,
            "TOPICS",
            topic_list,
            file.and_then(|f| f.topics.clone()),
            strings(spec.topics.unwrap_or(handler_topics)),
        )?;
        for t in &topics {
            if t.contains(char::is_whitespace) {
                return Err(config_error(format!(
                    "`topics`: topic {t:?} contains whitespace; on the wire the first space separates the topic from the JSON"
                )));
            }
        }
        if let Some(missing) = handler_topics
            .iter()
            .find(|h| !topics.iter().any(|t| h.starts_with(t.as_str())))
        {
            return Err(config_error(format!(
                "`topics` must still subscribe to `{missing}`, which has a handler; add it (topics may be added at run time, not removed)"
            )));
        }
        let mut subscriptions = Vec::new();
        if spec.has(Role::Sub) {
            for t in topics.iter().chain(&watch) {
                if !subscriptions.contains(t) {
                    subscriptions.push(t.clone());
                }
            }
        }
        Ok(Settings {
            service_type: key(
                None,
                name,
                "SERVICE_TYPE",
                text,
                file.and_then(|f| f.service_type.clone()),
                spec.service_type.to_owned(),
            )?,
            addresses,
            subscriptions,
            heartbeat_topic,
            default_topic,
            heartbeat_interval: key(
                None,
                name,
                "HEARTBEAT_INTERVAL",
                duration_or_off,
                file.and_then(|f| f.heartbeat_interval),
                spec.heartbeat_interval,
            )?,
            stats_interval: key(
                None,
                name,
                "STATS_INTERVAL",
                duration_or_off,
                file.and_then(|f| f.stats_interval),
                spec.stats_interval,
            )?,
            watch,
            publishes,
            peer_interval: key(
                None,
                name,
                "PEER_INTERVAL",
                duration,
                file.and_then(|f| f.peer_interval),
                spec.peer_interval,
            )?,
            sockets,
            drain_timeout,
            send_queue,
            send_timeout,
            max_subscriptions,
            auth,
        })
    }
}

fn addresses(
    overrides: &Overrides,
    file: Option<&ServiceConfig>,
    spec: &ServiceSpec,
    name: &str,
    role: Role,
) -> Option<Addresses> {
    let declared = spec.addresses(role)?;
    overrides.addresses[role.index()]
        .clone()
        .or_else(|| env(name, &role.to_string()).map(|list| Addresses::split(&list)))
        .filter(|a| !a.is_empty())
        .or_else(|| file.and_then(|f| f.addresses(role).cloned()))
        .or_else(|| Some(declared.into()))
}

/// The addresses of `role`, each checked: a transport and an address, and (with PLAIN) one
/// direction for the whole socket.
fn addresses_checked(
    overrides: &Overrides,
    file: Option<&ServiceConfig>,
    spec: &ServiceSpec,
    name: &str,
    role: Role,
    auth: &Auth,
) -> Result<Option<Addresses>, Error> {
    let Some(list) = addresses(overrides, file, spec, name, role) else {
        return Ok(None);
    };
    let error = |message: String| Error::Config {
        service: name.to_owned(),
        message,
    };
    let mut directions = Vec::new();
    for (i, address) in list.iter().enumerate() {
        let endpoint = Endpoint::parse(role, address);
        let valid = endpoint
            .address
            .split_once("://")
            .is_some_and(|(transport, rest)| !transport.is_empty() && !rest.is_empty());
        if !valid {
            return Err(error(format!(
                "invalid {} address `{address}`: expected `tcp://host:port`, `ipc://path` or `inproc://name`, optionally prefixed with `@` (bind) or `>` (connect)",
                role.key()
            )));
        }
        if list.iter().take(i).any(|a| a.trim() == address.trim()) {
            return Err(error(format!(
                "{} address `{address}` is listed twice",
                role.key()
            )));
        }
        if endpoint.direction == Direction::Connect
            && auth.curve.as_ref().is_some_and(|c| c.server.is_none())
        {
            return Err(error(format!(
                "the {} socket connects to `{}` with CURVE, but no `curve_server_key` says which \
                 server key to expect (the public key of the service it connects to)",
                role.key(),
                endpoint.address
            )));
        }
        directions.push(endpoint.direction);
    }
    let mixed = directions.contains(&Direction::Bind) && directions.contains(&Direction::Connect);
    // CURVE sets each endpoint's side as it binds or connects, and its client side never
    // asks the ZAP handler; PLAIN is one side per socket, and without a mechanism libzmq
    // would check the socket's own outgoing connections against `allow`.
    let per_socket = auth.plain.is_some() || (!auth.allow.is_empty() && auth.curve.is_none());
    if mixed && per_socket {
        return Err(error(format!(
            "the {} socket both binds and connects, but access control (PLAIN, `allow`) is per socket: PLAIN makes it either the server (binding) or the client (connecting), and libzmq would check its own outgoing connections against `allow`; give it one direction, or use two services",
            role.key()
        )));
    }
    Ok(Some(list))
}

/// A topic as it may appear on the wire: non-empty, without whitespace.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("a topic must not be empty".to_owned());
    }
    if topic.contains(char::is_whitespace) {
        return Err(format!(
            "topic {topic:?} contains whitespace; on the wire the first space separates the topic from the JSON"
        ));
    }
    Ok(())
}

/// CURVE from the environment, the file and the attribute: on with `curve = true` or when a
/// secret key is given. Every key is the key itself or a key file (see [`crate::curve`]).
fn resolve_curve(
    name: &str,
    file: Option<&ServiceConfig>,
    spec: &AuthSpec,
) -> Result<Option<Curve>, String> {
    let explicit = match env(name, "CURVE") {
        Some(value) => Some(
            boolean(value.trim())
                .map_err(|e| format!("invalid {}: {e}", env_var_name(name, "CURVE")))?,
        ),
        None => file.and_then(|f| f.curve),
    };
    let on = explicit.unwrap_or(spec.curve);
    let value = |key: &str, from_file: Option<&String>, from_spec: Option<&'static str>| {
        env(name, key)
            .or_else(|| from_file.cloned())
            .or(from_spec.map(str::to_owned))
    };
    let secret = value(
        "CURVE_SECRET_KEY",
        file.and_then(|f| f.curve_secret_key.as_ref()),
        spec.curve_secret_key,
    );
    // A secret key given turns CURVE on: keys set for encryption never leave it off
    // silently; `curve = false` beside one (by env or file) is a contradiction.
    if explicit == Some(false) && secret.is_some() {
        return Err(
            "`curve` is false, but a `curve_secret_key` is set: remove one of them".to_owned(),
        );
    }
    let Some(secret) = secret else {
        return match on {
            true => Err(format!(
                "CURVE is on, but no `curve_secret_key` gives this service's key pair: a key \
                 file (as `experimance keygen` writes) or {}",
                env_var_name(name, "CURVE_SECRET_KEY")
            )),
            false => Ok(None),
        };
    };
    let named = |key: &str, e: String| format!("`{key}`: {e}");
    let (secret, public_in_file) =
        curve::load(&secret, Part::Secret).map_err(|e| named("curve_secret_key", e))?;
    let public = value(
        "CURVE_PUBLIC_KEY",
        file.and_then(|f| f.curve_public_key.as_ref()),
        spec.curve_public_key,
    );
    // The public key follows from the secret one; one given must match it.
    let derived = secret.public_of_secret();
    let given = match public {
        Some(public) => Some((
            "`curve_public_key`",
            curve::load(&public, Part::Public)
                .map_err(|e| named("curve_public_key", e))?
                .0,
        )),
        None => public_in_file.map(|k| ("the secret key file's `public-key`", k)),
    };
    if let Some((what, key)) = given {
        if key != derived {
            return Err(format!(
                "{what} is not the public key of `curve_secret_key`: they are not one pair"
            ));
        }
    }
    let public = derived;
    let server = value(
        "CURVE_SERVER_KEY",
        file.and_then(|f| f.curve_server_key.as_ref()),
        spec.curve_server_key,
    )
    .map(|v| curve::load(&v, Part::Public).map(|k| k.0))
    .transpose()
    .map_err(|e| named("curve_server_key", e))?;
    let allow = match env(name, "CURVE_ALLOW") {
        Some(value) => list(&value)?,
        None => file
            .and_then(|f| f.curve_allow.clone())
            .unwrap_or_else(|| strings(spec.curve_allow)),
    };
    let allow = allow
        .iter()
        .map(|v| curve::load(v, Part::Public).map(|k| k.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| named("curve_allow", e))?;
    let mut curve = Curve::new(public, secret).with_allowed(allow);
    curve.server = server;
    Ok(Some(curve))
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn text(t: &str) -> Result<String, String> {
    Ok(t.to_owned())
}

fn number<T: std::str::FromStr<Err = std::num::ParseIntError>>(t: &str) -> Result<T, String> {
    t.parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())
}

fn boolean(t: &str) -> Result<bool, String> {
    match t {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Comma-separated entries, trimmed; blank ones are skipped.
fn list(t: &str) -> Result<Vec<String>, String> {
    Ok(t.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Comma-separated topics; `""` (two quotes) is the empty topic, which subscribes to every
/// topic.
fn topic_list(t: &str) -> Result<Vec<String>, String> {
    let topics: Vec<String> = t
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| if e == "\"\"" { "" } else { e }.to_owned())
        .collect();
    if topics.is_empty() {
        return Err("no topics; list at least one, or \"\" for every topic".to_owned());
    }
    Ok(topics)
}

fn duration_or_off(t: &str) -> Result<Option<Duration>, String> {
    if t == "off" {
        return Ok(None);
    }
    crate::config::parse_duration(t)
        .map(Some)
        .map_err(|e| format!("{e}, or \"off\""))
}

/// One key: the program's value, else `EXPERIMANCE_<NAME>_<KEY>` read with `parse`, else the
/// file's, else the attribute's.
fn key<T>(
    program: Option<T>,
    name: &str,
    env_key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    file: Option<T>,
    spec: T,
) -> Result<T, Error> {
    match program {
        Some(value) => Ok(value),
        None => Ok(env_parsed(name, env_key, parse)?.or(file).unwrap_or(spec)),
    }
}

/// `EXPERIMANCE_<NAME>_<KEY>` read with `parse`; a value that does not parse is an error
/// naming the variable.
fn env_parsed<T>(
    name: &str,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    let Some(text) = env(name, key) else {
        return Ok(None);
    };
    parse(text.trim()).map(Some).map_err(|e| Error::Config {
        service: name.to_owned(),
        message: format!("{}={text:?}: {e}", env_var_name(name, key)),
    })
}

fn env(name: &str, key: &str) -> Option<String> {
    std::env::var(env_var_name(name, key))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: ServiceSpec = ServiceSpec {
        name: "SettingsTest",
        addresses: [
            Some(&["tcp://*:5555"]),
            Some(&["tcp://localhost:5556"]),
            None,
            None,
        ],
        hwm: Some(10),
        ..ServiceSpec::DEFAULT
    };

    /// Resolves `overrides` for `SPEC` running as `name`.
    fn resolve(overrides: &Overrides, name: &str) -> Result<Settings, Error> {
        let overrides = Overrides {
            name: Some(name.to_owned()),
            ..overrides.clone()
        };
        overrides.resolve(&SPEC, &[])
    }

    fn first(addresses: &Option<Addresses>) -> Option<&str> {
        addresses.as_ref().and_then(|a| a.iter().next())
    }

    fn config(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("experimance-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One file per call: tests run in parallel in this process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.toml"));
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    #[test]
    fn program_beats_env_beats_file_beats_attribute() {
        let file = config(
            "[services.SettingsPrecedence]\npub = \"tcp://127.0.0.1:7001\"\nsub = \"tcp://127.0.0.1:7002\"\nhwm = 20\nheartbeat_interval = \"2s\"\nstats_interval = \"off\"\n",
        );
        let name = "SettingsPrecedence";
        std::env::set_var("EXPERIMANCE_SETTINGSPRECEDENCE_SUB", "tcp://127.0.0.1:7003");
        let mut overrides = Overrides {
            config: Some(file),
            ..Overrides::default()
        };
        overrides.addresses[0] = None;
        let settings = resolve(&overrides, name).unwrap();
        assert_eq!(first(&settings.addresses[0]), Some("tcp://127.0.0.1:7001"));
        assert_eq!(first(&settings.addresses[1]), Some("tcp://127.0.0.1:7003"));
        assert_eq!(settings.addresses[2], None);
        assert_eq!(settings.sockets[0].hwm, Some(20));
        assert_eq!(settings.heartbeat_interval, Some(Duration::from_secs(2)));
        assert_eq!(settings.stats_interval, None);

        overrides.addresses[1] = Some("tcp://127.0.0.1:7004".into());
        overrides.hwm[0] = Some(30);
        let settings = resolve(&overrides, name).unwrap();
        assert_eq!(first(&settings.addresses[1]), Some("tcp://127.0.0.1:7004"));
        assert_eq!(settings.sockets[0].hwm, Some(30));
        assert_eq!(settings.sockets[1].hwm, Some(20));
    }

    #[test]
    fn attribute_applies_without_file_or_env() {
        let settings = resolve(&Overrides::default(), "SettingsPlain").unwrap();
        assert_eq!(first(&settings.addresses[0]), Some("tcp://*:5555"));
        assert_eq!(settings.sockets[0].hwm, Some(10));
        assert_eq!(settings.heartbeat_interval, Some(Duration::from_secs(5)));
        assert!(!settings.auth.enabled());
    }

    #[test]
    fn half_credentials_and_bad_networks_are_errors() {
        std::env::set_var("EXPERIMANCE_SETTINGSHALF_USERNAME", "user");
        let Err(error) = resolve(&Overrides::default(), "SettingsHalf") else {
            panic!("half credentials must be an error");
        };
        assert!(
            error.to_string().contains("both a username and a password"),
            "{error}"
        );
        let overrides = Overrides {
            allow: Some(vec!["10.0.0.0/40".into()]),
            ..Overrides::default()
        };
        let Err(error) = resolve(&overrides, "SettingsNet") else {
            panic!("a bad network must be an error");
        };
        assert!(error.to_string().contains("allow"), "{error}");
    }

    #[test]
    fn send_keys_come_from_the_environment_and_bad_values_name_the_variable() {
        std::env::set_var("EXPERIMANCE_SETTINGSSEND_SEND_QUEUE", "7");
        std::env::set_var("EXPERIMANCE_SETTINGSSEND_SEND_TIMEOUT", "250ms");
        let settings = resolve(&Overrides::default(), "SettingsSend").unwrap();
        assert_eq!(settings.send_queue, 7);
        assert_eq!(settings.send_timeout, Duration::from_millis(250));
        std::env::set_var("EXPERIMANCE_SETTINGSBADSEND_MAX_SUBSCRIPTIONS", "lots");
        let Err(error) = resolve(&Overrides::default(), "SettingsBadSend") else {
            panic!("a bad value must be an error");
        };
        assert!(
            error
                .to_string()
                .contains("EXPERIMANCE_SETTINGSBADSEND_MAX_SUBSCRIPTIONS"),
            "{error}"
        );
    }

    #[test]
    fn limits_below_one_are_errors() {
        for (overrides, key) in [
            (
                Overrides {
                    send_queue: Some(0),
                    ..Overrides::default()
                },
                "send_queue",
            ),
            (
                Overrides {
                    max_subscriptions: Some(0),
                    ..Overrides::default()
                },
                "max_subscriptions",
            ),
            (
                Overrides {
                    max_subscription_size: Some(-1),
                    ..Overrides::default()
                },
                "max_subscription_size",
            ),
        ] {
            let Err(error) = resolve(&overrides, "SettingsLimits") else {
                panic!("{key} below 1 must be an error");
            };
            assert!(error.to_string().contains(key), "{error}");
        }
    }

    #[test]
    fn bad_file_names_file_key_and_expectation() {
        let dir =
            std::env::temp_dir().join(format!("experimance-settings-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[services.A]\nhwm = \"many\"\n").unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("bad.toml") && error.contains("hwm"),
            "{error}"
        );
        std::fs::write(&path, "[services.A]\nheartbeats = \"x\"\n").unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("unknown field") && error.contains("heartbeats"),
            "{error}"
        );
    }

    /// One key set from one source, and what the resolved settings must then say.
    type Check = fn(&Settings);

    /// Every key but `name` (tested apart): its environment variable's value, its line in a
    /// configuration file, and the check of the settings it gives.
    const KEYS: &[(&str, &str, &str, Check)] = &[
        (
            "SERVICE_TYPE",
            "display",
            "service_type = \"display\"",
            |s| assert_eq!(s.service_type, "display"),
        ),
        (
            "PUB",
            "tcp://127.0.0.1:7101,ipc:///tmp/k",
            "pub = [\"tcp://127.0.0.1:7101\", \"ipc:///tmp/k\"]",
            |s| {
                let list: Vec<&str> = s.addresses[0].as_ref().unwrap().iter().collect();
                assert_eq!(list, ["tcp://127.0.0.1:7101", "ipc:///tmp/k"]);
            },
        ),
        (
            "SUB",
            ">tcp://core:5555, >tcp://agent:5557",
            "sub = [\">tcp://core:5555\", \">tcp://agent:5557\"]",
            |s| {
                let list: Vec<&str> = s.addresses[1].as_ref().unwrap().iter().collect();
                assert_eq!(list, [">tcp://core:5555", ">tcp://agent:5557"]);
            },
        ),
        ("TOPICS", "era,idle", "topics = [\"era\", \"idle\"]", |s| {
            assert_eq!(s.subscriptions, ["era", "idle"])
        }),
        (
            "HEARTBEAT",
            "display.beat",
            "heartbeat = \"display.beat\"",
            |s| {
                assert_eq!(s.heartbeat_topic, "display.beat");
                assert_eq!(s.default_topic, "display.beat");
            },
        ),
        (
            "HEARTBEAT_INTERVAL",
            "off",
            "heartbeat_interval = \"off\"",
            |s| assert_eq!(s.heartbeat_interval, None),
        ),
        (
            "DEFAULT_TOPIC",
            "core.events",
            "default_topic = \"core.events\"",
            |s| assert_eq!(s.default_topic, "core.events"),
        ),
        ("STATS_INTERVAL", "2s", "stats_interval = \"2s\"", |s| {
            assert_eq!(s.stats_interval, Some(Duration::from_secs(2)))
        }),
        (
            "WATCH",
            "a.heartbeat,b.heartbeat",
            "watch = [\"a.heartbeat\", \"b.heartbeat\"]",
            |s| {
                assert_eq!(s.watch, ["a.heartbeat", "b.heartbeat"]);
                assert!(s
                    .subscriptions
                    .ends_with(&["a.heartbeat".into(), "b.heartbeat".into()]));
            },
        ),
        (
            "PUBLISHES",
            "era,idle",
            "publishes = [\"era\", \"idle\"]",
            |s| assert_eq!(s.publishes, ["era", "idle"]),
        ),
        ("PEER_INTERVAL", "250ms", "peer_interval = \"250ms\"", |s| {
            assert_eq!(s.peer_interval, Duration::from_millis(250))
        }),
        ("DRAIN_TIMEOUT", "3s", "drain_timeout = \"3s\"", |s| {
            assert_eq!(s.drain_timeout, Duration::from_secs(3))
        }),
        ("SEND_QUEUE", "7", "send_queue = 7", |s| {
            assert_eq!(s.send_queue, 7)
        }),
        ("SEND_TIMEOUT", "250ms", "send_timeout = \"250ms\"", |s| {
            assert_eq!(s.send_timeout, Duration::from_millis(250))
        }),
        (
            "MAX_SUBSCRIPTION_SIZE",
            "1KiB",
            "max_subscription_size = \"1KiB\"",
            |s| assert_eq!(s.sockets[0].max_subscription_size, 1024),
        ),
        ("MAX_SUBSCRIPTIONS", "50", "max_subscriptions = 50", |s| {
            assert_eq!(s.max_subscriptions, 50)
        }),
        ("ZMTP_HEARTBEAT", "off", "zmtp_heartbeat = \"off\"", |s| {
            assert_eq!(s.sockets[1].zmtp_heartbeat, None)
        }),
        ("HWM", "5000", "hwm = 5000", |s| {
            assert!(s.sockets.iter().all(|o| o.hwm == Some(5000)))
        }),
        (
            "MAX_MESSAGE_SIZE",
            "64KiB",
            "max_message_size = \"64KiB\"",
            |s| assert_eq!(s.sockets[1].max_message_size, 65536),
        ),
        (
            "ALLOW",
            "127.0.0.1,10.0.0.0/8",
            "allow = [\"127.0.0.1\", \"10.0.0.0/8\"]",
            |s| assert_eq!(s.auth.allow.len(), 2),
        ),
        ("CURVE", "false", "curve = false", |s| {
            assert!(s.auth.curve.is_none())
        }),
    ];

    #[test]
    fn every_key_comes_from_the_environment_and_from_the_file() {
        for (i, (key, env_value, line, check)) in KEYS.iter().enumerate() {
            let by_env = format!("SettingsEnvKey{i}");
            std::env::set_var(env_var_name(&by_env, key), env_value);
            let settings = resolve(&Overrides::default(), &by_env)
                .unwrap_or_else(|e| panic!("{key} from the environment: {e}"));
            check(&settings);

            let by_file = format!("SettingsFileKey{i}");
            let overrides = Overrides {
                config: Some(config(&format!("[services.{by_file}]\n{line}\n"))),
                ..Overrides::default()
            };
            let settings = resolve(&overrides, &by_file)
                .unwrap_or_else(|e| panic!("{key} from the file: {e}"));
            check(&settings);
        }
        // PLAIN credentials, which come in pairs.
        std::env::set_var("EXPERIMANCE_SETTINGSENVPLAIN_USERNAME", "user");
        std::env::set_var("EXPERIMANCE_SETTINGSENVPLAIN_PASSWORD", "secret");
        let settings = resolve(&Overrides::default(), "SettingsEnvPlain").unwrap();
        assert_eq!(settings.auth.plain, Some(("user".into(), "secret".into())));
        let overrides = Overrides {
            config: Some(config(
                "[services.SettingsFilePlain]\nusername = \"user\"\npassword = \"secret\"\n",
            )),
            ..Overrides::default()
        };
        let settings = resolve(&overrides, "SettingsFilePlain").unwrap();
        assert_eq!(settings.auth.plain, Some(("user".into(), "secret".into())));

        // CURVE keys: the keys themselves from the environment; key files from the file (a
        // secret certificate gives the public key too).
        let own = Curve::generate().unwrap();
        let server = Curve::generate().unwrap();
        let allowed = [Curve::generate().unwrap(), Curve::generate().unwrap()];
        let expected = Curve::new(own.public.clone(), own.secret.clone())
            .with_server_key(server.public.clone())
            .with_allowed(allowed.iter().map(|c| c.public.clone()));
        let z85 = |k: &crate::CurveKey| k.to_z85();
        for (key, value) in [
            ("CURVE_SECRET_KEY", z85(&own.secret)),
            ("CURVE_PUBLIC_KEY", z85(&own.public)),
            ("CURVE_SERVER_KEY", z85(&server.public)),
            (
                "CURVE_ALLOW",
                format!("{},{}", z85(&allowed[0].public), z85(&allowed[1].public)),
            ),
        ] {
            std::env::set_var(env_var_name("SettingsEnvCurve", key), value);
        }
        let settings = resolve(&Overrides::default(), "SettingsEnvCurve").unwrap();
        assert_eq!(settings.auth.curve.as_ref(), Some(&expected));
        assert_eq!(settings.sockets[1].curve.as_ref(), Some(&expected));

        let dir = std::env::temp_dir();
        let file = |name: &str, text: String| {
            let path = dir.join(format!(
                // `_` is no Z85 character: the path can never read as a key.
                "experimance_settings_{}_{name}",
                std::process::id()
            ));
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let secret = file(
            "own.key_secret",
            crate::curve::certificate(&own.public, Some(&own.secret), "a test"),
        );
        let server_key = file(
            "server.key",
            crate::curve::certificate(&server.public, None, "a test"),
        );
        let overrides = Overrides {
            config: Some(config(&format!(
                "[services.SettingsFileCurve]\ncurve_secret_key = {secret:?}\n\
                 curve_server_key = {server_key:?}\ncurve_allow = [{:?}, {:?}]\n",
                z85(&allowed[0].public),
                z85(&allowed[1].public)
            ))),
            ..Overrides::default()
        };
        let settings = resolve(&overrides, "SettingsFileCurve").unwrap();
        assert_eq!(settings.auth.curve.as_ref(), Some(&expected));

        // A secret key alone gives the public key; a public key of another pair is refused;
        // `curve = false` beside a secret key is refused.
        let bare = file("own.secret", z85(&own.secret));
        let alone = |extra: &str| Overrides {
            config: Some(config(&format!(
                "[services.SettingsCurvePair]\ncurve_secret_key = {bare:?}\n{extra}\n\
                 curve_server_key = {:?}\n",
                z85(&server.public)
            ))),
            ..Overrides::default()
        };
        let settings = resolve(&alone(""), "SettingsCurvePair").unwrap();
        assert_eq!(settings.auth.curve.unwrap().public, own.public);
        let other = format!("curve_public_key = {:?}", z85(&server.public));
        let error = resolve(&alone(&other), "SettingsCurvePair").err().unwrap();
        assert!(error.to_string().contains("not one pair"), "{error}");
        let error = resolve(&alone("curve = false"), "SettingsCurvePair")
            .err()
            .unwrap();
        assert!(error.to_string().contains("remove one of them"), "{error}");
    }

    #[test]
    fn the_name_comes_from_the_environment_and_from_the_file() {
        static NAMED: ServiceSpec = ServiceSpec {
            name: "SettingsNamed",
            ..SPEC
        };
        assert_eq!(Overrides::default().name(&NAMED), "SettingsNamed");
        let overrides = Overrides {
            config: Some(config("[services.SettingsNamed]\nname = \"display-2\"\n")),
            ..Overrides::default()
        };
        assert_eq!(overrides.name(&NAMED), "display-2");
        // The keys are still looked up by the attribute's name.
        assert_eq!(overrides.lookup_name(&NAMED), "SettingsNamed");
        std::env::set_var("EXPERIMANCE_SETTINGSNAMED_NAME", "display 3");
        assert_eq!(
            overrides.name(&NAMED),
            "SettingsNamed",
            "a name with a space would make a bad stats topic: the code's name is kept"
        );
        std::env::set_var("EXPERIMANCE_SETTINGSNAMED_NAME", "display-3");
        assert_eq!(overrides.name(&NAMED), "display-3");
        let program = Overrides {
            name: Some("display-4".into()),
            ..overrides
        };
        assert_eq!(program.name(&NAMED), "display-4");
    }

    #[test]
    fn run_time_topics_may_add_but_not_remove_a_handlers_topic() {
        let with = |topics: &str| Overrides {
            name: Some("SettingsTopics".into()),
            config: Some(config(&format!(
                "[services.SettingsTopics]\ntopics = {topics}\n"
            ))),
            ..Overrides::default()
        };
        let settings = with("[\"era\", \"idle\"]")
            .resolve(&SPEC, &["era"])
            .unwrap();
        assert_eq!(settings.subscriptions, ["era", "idle"]);
        // A prefix covers the handler's topic, as ZeroMQ's filter does.
        assert!(with("[\"\"]").resolve(&SPEC, &["era"]).is_ok());
        let Err(error) = with("[\"idle\"]").resolve(&SPEC, &["era"]) else {
            panic!("dropping a handler's topic must be an error");
        };
        assert!(
            error.to_string().contains("`era`, which has a handler"),
            "{error}"
        );
    }

    #[test]
    fn bad_run_time_values_are_errors_naming_the_key() {
        for (key, value, expected) in [
            ("HEARTBEAT", "two words", "whitespace"),
            ("DEFAULT_TOPIC", "a b", "whitespace"),
            ("HEARTBEAT_INTERVAL", "often", "off"),
            ("HWM", "-1", "`hwm`"),
            ("MAX_MESSAGE_SIZE", "0B", "at least 1 byte"),
            ("CURVE", "maybe", "true or false"),
            ("CURVE_SECRET_KEY", "/nonexistent/k", "`curve_secret_key`"),
            ("SUB", "localhost:5555", "invalid sub address"),
            ("SUB", "tcp://a:1,tcp://a:1", "listed twice"),
        ] {
            let name = format!("SettingsBad{}", key.replace('_', ""));
            std::env::set_var(env_var_name(&name, key), value);
            let Err(error) = resolve(&Overrides::default(), &name) else {
                panic!("{key}={value} must be an error");
            };
            assert!(error.to_string().contains(expected), "{key}: {error}");
            std::env::remove_var(env_var_name(&name, key));
        }
        static NO_SUB: ServiceSpec = ServiceSpec {
            name: "SettingsNoSub",
            addresses: [Some(&["tcp://*:1"]), None, None, None],
            ..ServiceSpec::DEFAULT
        };
        std::env::set_var("EXPERIMANCE_SETTINGSNOSUB_WATCH", "a.heartbeat");
        let Err(error) = Overrides::default().resolve(&NO_SUB, &[]) else {
            panic!("watch without SUB must be an error");
        };
        assert!(error.to_string().contains("SUB socket"), "{error}");
    }

    #[test]
    fn plain_refuses_a_socket_that_both_binds_and_connects() {
        let overrides = Overrides {
            addresses: [None, Some(["@tcp://*:1", ">tcp://a:2"].into()), None, None],
            plain: Some(Some(("u".into(), "p".into()))),
            ..Overrides::default()
        };
        let Err(error) = resolve(&overrides, "SettingsMixed") else {
            panic!("a mixed socket with PLAIN must be an error");
        };
        assert!(
            error.to_string().contains("both binds and connects"),
            "{error}"
        );
        let overrides = Overrides {
            plain: None,
            ..overrides
        };
        assert!(resolve(&overrides, "SettingsMixed").is_ok());
    }

    #[test]
    fn a_hub_gives_a_service_without_pub_a_connecting_pub() {
        static SUBSCRIBER: ServiceSpec = ServiceSpec {
            name: "SettingsHubbed",
            addresses: [None, Some(&["tcp://localhost:5555"]), None, None],
            ..ServiceSpec::DEFAULT
        };
        let settings = Overrides::default().resolve(&SUBSCRIBER, &[]).unwrap();
        assert!(settings.addresses[0].is_none(), "no hub, no PUB");
        std::env::set_var(
            "EXPERIMANCE_SETTINGSHUBBED_HUB",
            "tcp://hub:6000,@ipc:///tmp/h",
        );
        let settings = Overrides::default().resolve(&SUBSCRIBER, &[]).unwrap();
        let hub: Vec<&str> = settings.addresses[0].as_ref().unwrap().iter().collect();
        assert_eq!(hub, [">tcp://hub:6000", "@ipc:///tmp/h"]);
        std::env::remove_var("EXPERIMANCE_SETTINGSHUBBED_HUB");
        let overrides = Overrides {
            config: Some(config(
                "[services.SettingsHubbed]\nhub = \"tcp://hub:6001\"\n",
            )),
            ..Overrides::default()
        };
        let settings = overrides.resolve(&SUBSCRIBER, &[]).unwrap();
        assert_eq!(first(&settings.addresses[0]), Some(">tcp://hub:6001"));
        // A service with its own PUB sends its heartbeats there.
        std::env::set_var("EXPERIMANCE_SETTINGSHUBPUB_HUB", "tcp://hub:6000");
        let Err(error) = resolve(&Overrides::default(), "SettingsHubPub") else {
            panic!("hub with pub must be an error");
        };
        assert!(
            error.to_string().contains("`hub` is for a service without"),
            "{error}"
        );
    }
}
