//! What a run of a service uses: the attribute's spec, replaced key by key by the
//! environment, replaced in turn by what the program set on the [`Runner`](crate::Runner).

use std::time::Duration;

use crate::address::{env_var_name, Role};
use crate::auth::{Auth, Network};
use crate::error::Error;
use crate::service::ServiceSpec;
use crate::socket::SocketOptions;

/// What the program set on the runner; `None` defers to the environment and the attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) addresses: [Option<String>; 4],
    pub(crate) hwm: [Option<i32>; 4],
    pub(crate) max_message_size: Option<i64>,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) zmtp_heartbeat: Option<Option<Duration>>,
    pub(crate) plain: Option<Option<(String, String)>>,
    pub(crate) allow: Option<Vec<String>>,
}

/// The resolved settings of one run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) addresses: [Option<String>; 4],
    pub(crate) sockets: [SocketOptions; 4],
    pub(crate) drain_timeout: Duration,
    pub(crate) auth: Auth,
}

impl Overrides {
    /// The address of `role`: override, else `EXPERIMANCE_<NAME>_<ROLE>`, else the attribute.
    pub(crate) fn address(&self, spec: &ServiceSpec, name: &str, role: Role) -> Option<String> {
        let declared = spec.address(role)?;
        self.addresses[role.index()]
            .clone()
            .or_else(|| env(name, &role.to_string()))
            .or_else(|| Some(declared.to_owned()))
    }

    pub(crate) fn resolve(&self, spec: &ServiceSpec, name: &str) -> Result<Settings, Error> {
        let config_error = |message: String| Error::Config {
            service: name.to_owned(),
            message,
        };
        let plain = match &self.plain {
            Some(plain) => plain.clone(),
            None => {
                let username = env(name, "USERNAME").or(spec.auth.username.map(str::to_owned));
                let password = env(name, "PASSWORD").or(spec.auth.password.map(str::to_owned));
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
                None => spec.auth.allow.iter().map(|s| (*s).to_owned()).collect(),
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
        let drain_timeout = self.drain_timeout.unwrap_or(spec.drain_timeout);
        let sockets = std::array::from_fn(|i| SocketOptions {
            linger: drain_timeout,
            hwm: self.hwm[i].or(spec.hwm),
            max_message_size: self.max_message_size.unwrap_or(spec.max_message_size),
            zmtp_heartbeat: self.zmtp_heartbeat.unwrap_or(spec.zmtp_heartbeat),
            plain: auth.plain.clone(),
            zap: auth.enabled(),
        });
        Ok(Settings {
            addresses: Role::ALL.map(|role| self.address(spec, name, role)),
            sockets,
            drain_timeout,
            auth,
        })
    }
}

fn env(name: &str, key: &str) -> Option<String> {
    std::env::var(env_var_name(name, key))
        .ok()
        .filter(|v| !v.trim().is_empty())
}
