//! Configuration files: a TOML file that overrides, per service, what the `#[service]`
//! attribute says. The environment overrides the file, and the program overrides both.
//!
//! ```toml
//! # experimance.toml
//! [services.MyPublisher]
//! pub = "tcp://127.0.0.1:6000"
//! heartbeat_interval = "2s"
//! stats_interval = "off"
//! hwm = 5000
//!
//! [services.Display]
//! sub = "tcp://10.0.0.5:6000"
//! allow = ["10.0.0.0/24"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::address::{Addresses, Role};
use crate::error::Error;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "EXPERIMANCE_CONFIG";

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    path: PathBuf,
    services: BTreeMap<String, ServiceConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    services: BTreeMap<String, ServiceConfig>,
}

/// What a configuration file says about one service; every key is optional, and every key
/// of the `#[service]` attribute may appear. Its `Debug` output hides the password.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The name the service goes by in heartbeats, stats, logs and its description.
    pub name: Option<String>,
    /// The service's type, for its description.
    pub service_type: Option<String>,
    /// The PUB addresses: one string, or a list.
    #[serde(rename = "pub", default, deserialize_with = "addresses")]
    pub pub_address: Option<Addresses>,
    /// The SUB addresses: one string, or a list.
    #[serde(rename = "sub", default, deserialize_with = "addresses")]
    pub sub_address: Option<Addresses>,
    /// The PUSH addresses: one string, or a list.
    #[serde(rename = "push", default, deserialize_with = "addresses")]
    pub push_address: Option<Addresses>,
    /// The PULL addresses: one string, or a list.
    #[serde(rename = "pull", default, deserialize_with = "addresses")]
    pub pull_address: Option<Addresses>,
    /// Where a service without a PUB socket sends its heartbeats, stats and description.
    #[serde(default, deserialize_with = "addresses")]
    pub hub: Option<Addresses>,
    /// The SUB subscriptions. They replace the attribute's, and must still cover every topic
    /// that has a handler.
    pub topics: Option<Vec<String>>,
    /// The heartbeat topic.
    pub heartbeat: Option<String>,
    /// The heartbeat period; `"off"` sends no heartbeats.
    #[serde(default, deserialize_with = "duration_or_off")]
    pub heartbeat_interval: Option<Option<Duration>>,
    /// The topic of a message published without a topic and without `"type"`.
    pub default_topic: Option<String>,
    /// The stats log period; `"off"` disables it.
    #[serde(default, deserialize_with = "duration_or_off")]
    pub stats_interval: Option<Option<Duration>>,
    /// Heartbeat topics whose senders the service follows.
    pub watch: Option<Vec<String>>,
    /// Topics the service declares it publishes.
    pub publishes: Option<Vec<String>>,
    /// The heartbeat period expected of watched peers.
    #[serde(default, deserialize_with = "duration")]
    pub peer_interval: Option<Duration>,
    /// How long a stop may drain and flush.
    #[serde(default, deserialize_with = "duration")]
    pub drain_timeout: Option<Duration>,
    /// How many PUSH messages may wait for a puller in the send queue.
    pub send_queue: Option<usize>,
    /// How long a push waits for room in a full send queue.
    #[serde(default, deserialize_with = "duration")]
    pub send_timeout: Option<Duration>,
    /// The largest subscription the PUB socket accepts: bytes, or a string like `"1KiB"`.
    #[serde(default, deserialize_with = "bytes")]
    pub max_subscription_size: Option<i64>,
    /// How many subscriptions the PUB socket's subscribers may hold together.
    pub max_subscriptions: Option<usize>,
    /// The ZMTP heartbeat period; `"off"` disables ZMTP heartbeats.
    #[serde(default, deserialize_with = "duration_or_off")]
    pub zmtp_heartbeat: Option<Option<Duration>>,
    /// The high-water mark of every socket, in messages.
    pub hwm: Option<i32>,
    /// The largest message SUB and PULL accept: bytes, or a string like `"16MiB"`.
    #[serde(default, deserialize_with = "bytes")]
    pub max_message_size: Option<i64>,
    /// The PLAIN username.
    pub username: Option<String>,
    /// The PLAIN password.
    pub password: Option<String>,
    /// Addresses or CIDR networks allowed to connect to bound sockets.
    pub allow: Option<Vec<String>>,
    /// Whether CURVE encryption is asked for.
    pub curve: Option<bool>,
    /// This service's CURVE secret key, or a key file (better: a file).
    pub curve_secret_key: Option<String>,
    /// This service's CURVE public key, or a key file.
    pub curve_public_key: Option<String>,
    /// The public key (or key file) of the servers its connecting sockets connect to.
    pub curve_server_key: Option<String>,
    /// The client public keys (or key files) its bound sockets accept.
    pub curve_allow: Option<Vec<String>>,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("name", &self.name)
            .field("service_type", &self.service_type)
            .field("pub", &self.pub_address)
            .field("sub", &self.sub_address)
            .field("push", &self.push_address)
            .field("pull", &self.pull_address)
            .field("hub", &self.hub)
            .field("topics", &self.topics)
            .field("heartbeat", &self.heartbeat)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("default_topic", &self.default_topic)
            .field("stats_interval", &self.stats_interval)
            .field("watch", &self.watch)
            .field("publishes", &self.publishes)
            .field("peer_interval", &self.peer_interval)
            .field("drain_timeout", &self.drain_timeout)
            .field("send_queue", &self.send_queue)
            .field("send_timeout", &self.send_timeout)
            .field("max_subscription_size", &self.max_subscription_size)
            .field("max_subscriptions", &self.max_subscriptions)
            .field("zmtp_heartbeat", &self.zmtp_heartbeat)
            .field("hwm", &self.hwm)
            .field("max_message_size", &self.max_message_size)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("allow", &self.allow)
            .field("curve", &self.curve)
            .field(
                "curve_secret_key",
                &self.curve_secret_key.as_ref().map(|_| "<redacted>"),
            )
            // Keys are values or paths; neither is shown (see `crate::curve`).
            .field(
                "curve_public_key",
                &self.curve_public_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "curve_server_key",
                &self.curve_server_key.as_ref().map(|_| "<redacted>"),
            )
            .field("curve_allow", &self.curve_allow.as_ref().map(Vec::len))
            .finish()
    }
}

impl ServiceConfig {
    pub(crate) fn addresses(&self, role: Role) -> Option<&Addresses> {
        [
            &self.pub_address,
            &self.sub_address,
            &self.push_address,
            &self.pull_address,
        ][role.index()]
        .as_ref()
    }
}

impl Config {
    /// Reads and checks `path`. A bad file or key is an error naming the file, the key and
    /// what was expected.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("experimance-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("bad.toml");
    /// std::fs::write(&path, "[services.A]\nheartbeat_interval = \"5 sec\"\n").unwrap();
    /// let error = experimance_runtime::Config::load(&path).unwrap_err().to_string();
    /// assert!(error.contains("bad.toml") && error.contains("heartbeat_interval"), "{error}");
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let error = |message: String| Error::ConfigFile {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(Config {
            path: path.to_owned(),
            services: file.services,
        })
    }

    /// The file named by `--config PATH` (or `--config=PATH`) among the program's
    /// arguments, else by the `EXPERIMANCE_CONFIG` environment variable; `Ok(None)` if
    /// neither is given.
    pub fn from_args_or_env() -> Result<Option<Config>, Error> {
        let mut args = std::env::args().skip(1);
        let mut path = None;
        while let Some(arg) = args.next() {
            if arg == "--config" {
                path = args.next();
            } else if let Some(p) = arg.strip_prefix("--config=") {
                path = Some(p.to_owned());
            }
        }
        match path {
            Some(path) => Config::load(path).map(Some),
            None => Config::from_env(),
        }
    }

    /// The file named by `EXPERIMANCE_CONFIG`, if it is set.
    pub fn from_env() -> Result<Option<Config>, Error> {
        match std::env::var(CONFIG_ENV) {
            Ok(path) if !path.is_empty() => Config::load(path).map(Some),
            _ => Ok(None),
        }
    }

    /// The file this configuration came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file says about the service `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.get(name)
    }
}

/// One address (a string) or several (a list of strings).
fn addresses<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Addresses>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "an address string or a list of address strings")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let addresses: Addresses = match OneOrMany::deserialize(d)? {
        OneOrMany::One(address) => address.into(),
        OneOrMany::Many(list) => list.into(),
    };
    if addresses.is_empty() {
        return Err(serde::de::Error::custom(
            "the list of addresses is empty; give at least one",
        ));
    }
    Ok(Some(addresses))
}

/// Bytes as a number, or a string like `"16MiB"`.
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "bytes: a number, or a string like \"16MiB\"")]
    enum Size {
        Number(i64),
        Text(String),
    }
    let bytes = match Size::deserialize(d)? {
        Size::Number(n) if n >= 1 => n,
        Size::Number(n) => {
            return Err(serde::de::Error::custom(format!(
                "size {n} must be at least 1 byte"
            )))
        }
        Size::Text(text) => {
            crate::duration::parse_bytes(&text).map_err(serde::de::Error::custom)?
        }
    };
    Ok(Some(bytes))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Duration>>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "off" {
        return Ok(Some(None));
    }
    parse_duration(&text)
        .map(|d| Some(Some(d)))
        .map_err(|e| serde::de::Error::custom(format!("{e}, or \"off\"")))
}

/// Parses `"250ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"` — the durations of the attribute.
///
/// ```
/// use std::time::Duration;
/// use experimance_runtime::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("5 sec").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse_millis(text).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_hides_the_password() {
        let config = super::ServiceConfig {
            username: Some("installation".into()),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let text = format!("{config:?}");
        assert!(
            text.contains("installation") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
