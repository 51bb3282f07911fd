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
/// attribute. (No `Debug`: it holds a password.)
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) addresses: [Option<String>; 4],
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
    /// A configuration file given by the program; else the file named by a `--config PATH`
    /// argument or by `EXPERIMANCE_CONFIG` is read at start.
    pub(crate) config: Option<Config>,
}

/// The resolved settings of one run. (No `Debug`: it holds a password.)
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) addresses: [Option<String>; 4],
    pub(crate) sockets: [SocketOptions; 4],
    pub(crate) drain_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) max_subscriptions: usize,
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
        let number = |t: &str| {
            t.parse()
                .map_err(|e: std::num::ParseIntError| e.to_string())
        };
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
            crate::config::parse_duration,
            file.and_then(|f| f.send_timeout),
            spec.send_timeout,
        )?;
        let max_subscription_size = key(
            self.max_subscription_size,
            name,
            "MAX_SUBSCRIPTION_SIZE",
            |t| {
                t.parse()
                    .map_err(|e: std::num::ParseIntError| e.to_string())
            },
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
            max_subscription_size,
            zmtp_heartbeat,
            plain: auth.plain.clone(),
            zap: auth.enabled(),
        });
        Ok(Settings {
            addresses: Role::ALL.map(|role| address(self, file, spec, name, role)),
            sockets,
            drain_timeout,
            send_queue,
            send_timeout,
            max_subscriptions,
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
            Some("tcp://*:5555"),
            Some("tcp://localhost:5556"),
            None,
            None,
        ],
        hwm: Some(10),
        ..ServiceSpec::DEFAULT
    };

    fn config(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("experimance-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{:x}.toml",
            text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()
        ));
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
        let settings = overrides.resolve(&SPEC, name).unwrap();
        assert_eq!(
            settings.addresses[0].as_deref(),
            Some("tcp://127.0.0.1:7001")
        );
        assert_eq!(
            settings.addresses[1].as_deref(),
            Some("tcp://127.0.0.1:7003")
        );
        assert_eq!(settings.addresses[2], None);
        assert_eq!(settings.sockets[0].hwm, Some(20));
        assert_eq!(settings.heartbeat_interval, Duration::from_secs(2));
        assert_eq!(settings.stats_interval, None);

        overrides.addresses[1] = Some("tcp://127.0.0.1:7004".into());
        overrides.hwm[0] = Some(30);
        let settings = overrides.resolve(&SPEC, name).unwrap();
        assert_eq!(
            settings.addresses[1].as_deref(),
            Some("tcp://127.0.0.1:7004")
        );
        assert_eq!(settings.sockets[0].hwm, Some(30));
        assert_eq!(settings.sockets[1].hwm, Some(20));
    }

    #[test]
    fn attribute_applies_without_file_or_env() {
        let settings = Overrides::default()
            .resolve(&SPEC, "SettingsPlain")
            .unwrap();
        assert_eq!(settings.addresses[0].as_deref(), Some("tcp://*:5555"));
        assert_eq!(settings.sockets[0].hwm, Some(10));
        assert_eq!(settings.heartbeat_interval, Duration::from_secs(5));
        assert!(!settings.auth.enabled());
    }

    #[test]
    fn half_credentials_and_bad_networks_are_errors() {
        std::env::set_var("EXPERIMANCE_SETTINGSHALF_USERNAME", "user");
        let Err(error) = Overrides::default().resolve(&SPEC, "SettingsHalf") else {
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
        let Err(error) = overrides.resolve(&SPEC, "SettingsNet") else {
            panic!("a bad network must be an error");
        };
        assert!(error.to_string().contains("allow"), "{error}");
    }

    #[test]
    fn send_keys_come_from_the_environment_and_bad_values_name_the_variable() {
        std::env::set_var("EXPERIMANCE_SETTINGSSEND_SEND_QUEUE", "7");
        std::env::set_var("EXPERIMANCE_SETTINGSSEND_SEND_TIMEOUT", "250ms");
        let settings = Overrides::default().resolve(&SPEC, "SettingsSend").unwrap();
        assert_eq!(settings.send_queue, 7);
        assert_eq!(settings.send_timeout, Duration::from_millis(250));
        std::env::set_var("EXPERIMANCE_SETTINGSBADSEND_MAX_SUBSCRIPTIONS", "lots");
        let Err(error) = Overrides::default().resolve(&SPEC, "SettingsBadSend") else {
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
            let Err(error) = overrides.resolve(&SPEC, "SettingsLimits") else {
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
        std::fs::write(&path, "[services.A]\nheartbeat = \"x\"\n").unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("unknown field") && error.contains("heartbeat"),
            "{error}"
        );
    }
}
