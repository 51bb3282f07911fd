//! What a run of a service uses. Each key comes from the first of: what the program set on
//! the [`Runner`](crate::Runner), the environment (`EXPERIMANCE_<NAME>_<KEY>`), the
//! configuration file, the `#[service]` attribute.

use std::time::Duration;

use crate::address::{env_var_name, Role};
use crate::auth::{Auth, Network};
use crate::config::{Config, ServiceConfig};
use crate::error::Error;
use crate::service::ServiceSpec;
use crate::socket::SocketOptions;

/// What the program set on the runner; `None` defers to the environment, the file and the
/// attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) addresses: [Option<String>; 4],
    pub(crate) hwm: [Option<i32>; 4],
    pub(crate) max_message_size: Option<i64>,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) zmtp_heartbeat: Option<Option<Duration>>,
    pub(crate) plain: Option<Option<(String, String)>>,
    pub(crate) allow: Option<Vec<String>>,
    /// A configuration file given by the program; else `EXPERIMANCE_CONFIG` is read at start.
    pub(crate) config: Option<Config>,
}

/// The resolved settings of one run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) addresses: [Option<String>; 4],
    pub(crate) sockets: [SocketOptions; 4],
    pub(crate) drain_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) stats_interval: Option<Duration>,
    pub(crate) peer_interval: Duration,
    pub(crate) auth: Auth,
}

impl Overrides {
    /// The address of `role` as it stands now (without reading a configuration file that
    /// only `EXPERIMANCE_CONFIG` names).
    pub(crate) fn address(&self, spec: &ServiceSpec, name: &str, role: Role) -> Option<String> {
        let file = self.config.as_ref().and_then(|c| c.service(name));
        address(self, file, spec, name, role)
    }

    pub(crate) fn resolve(&self, spec: &ServiceSpec, name: &str) -> Result<Settings, Error> {
        let loaded;
        let config = match &self.config {
            Some(config) => Some(config),
            None => {
                loaded = crate::config::Config::from_env()?;
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
        let allow: Vec<String> = match &self.allow {
            Some(list) => list.clone(),
            None => match env(name, "ALLOW") {
                Some(list) => list.split(',').map(str::to_owned).collect(),
                None => match file.and_then(|f| f.allow.clone()) {
                    Some(list) => list,
                    None => spec.auth.allow.iter().map(|s| (*s).to_owned()).collect(),
                },
            },
        };
        let allow = allow
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<Network>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error(format!("invalid `allow` entry: {e}")))?;
        let auth = Auth {
            plain,
            allow,
            curve: spec.auth.curve,
        };
        auth.check_supported(name)?;
        let pick = |program: Option<Duration>, file: Option<Duration>, spec: Duration| {
            program.or(file).unwrap_or(spec)
        };
        let drain_timeout = pick(
            self.drain_timeout,
            file.and_then(|f| f.drain_timeout),
            spec.drain_timeout,
        );
        let zmtp_heartbeat = self
            .zmtp_heartbeat
            .or(file.and_then(|f| f.zmtp_heartbeat))
            .unwrap_or(spec.zmtp_heartbeat);
        let sockets = std::array::from_fn(|i| SocketOptions {
            linger: drain_timeout,
            hwm: self.hwm[i].or(file.and_then(|f| f.hwm)).or(spec.hwm),
            max_message_size: self
                .max_message_size
                .or(file.and_then(|f| f.max_message_size))
                .unwrap_or(spec.max_message_size),
            zmtp_heartbeat,
            plain: auth.plain.clone(),
            zap: auth.enabled(),
        });
        Ok(Settings {
            addresses: Role::ALL.map(|role| address(self, file, spec, name, role)),
            sockets,
            drain_timeout,
            heartbeat_interval: pick(
                None,
                file.and_then(|f| f.heartbeat_interval),
                spec.heartbeat_interval,
            ),
            stats_interval: file
                .and_then(|f| f.stats_interval)
                .unwrap_or(spec.stats_interval),
            peer_interval: pick(None, file.and_then(|f| f.peer_interval), spec.peer_interval),
            auth,
        })
    }
}

fn address(
    overrides: &Overrides,
    file: Option<&ServiceConfig>,
    spec: &ServiceSpec,
    name: &str,
    role: Role,
) -> Option<String> {
    let declared = spec.address(role)?;
    overrides.addresses[role.index()]
        .clone()
        .or_else(|| env(name, &role.to_string()))
        .or_else(|| file.and_then(|f| f.address(role.index()).cloned()))
        .or_else(|| Some(declared.to_owned()))
}

fn env(name: &str, key: &str) -> Option<String> {
    std::env::var(env_var_name(name, key))
        .ok()
        .filter(|v| !v.trim().is_empty())
}
