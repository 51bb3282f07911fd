//! Access control of bound sockets through ZAP (ZeroMQ RFC 27): PLAIN credentials, CURVE
//! client keys and an IP allow-list, checked by a handler that runs inside the service.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::curve::Curve;
use crate::error::Error;
use crate::socket::AsyncSocket;
use crate::untrusted::Untrusted;

/// Where libzmq sends its ZAP requests.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The access control in force for one run of a service.
#[derive(Clone, Default, PartialEq)]
pub struct Auth {
    /// PLAIN username and password: bound sockets require them, connecting sockets send them.
    pub plain: Option<(String, String)>,
    /// Networks allowed to connect to bound sockets; empty allows every address.
    pub allow: Vec<Network>,
    /// CURVE encryption: bound sockets are CURVE servers, connecting ones clients.
    pub curve: Option<Curve>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field(
                "plain",
                &self.plain.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .field("allow", &self.allow)
            .field("curve", &self.curve)
            .finish()
    }
}

impl Auth {
    /// Whether bound sockets must consult the ZAP handler.
    pub(crate) fn enabled(&self) -> bool {
        self.plain.is_some()
            || !self.allow.is_empty()
            || self.curve.as_ref().is_some_and(|c| !c.allow.is_empty())
    }

    /// Fails when CURVE is asked for and libzmq cannot provide it; never falls back.
    pub(crate) fn check_supported(&self, service: &str) -> Result<(), Error> {
        if self.curve.is_some() && zmq::has("curve") != Some(true) {
            return Err(Error::Config {
                service: service.to_owned(),
                message: "CURVE was asked for, but this libzmq was built without CURVE support \
                          (it needs libsodium: build with this workspace's patched `zmq-sys`); \
                          refusing to run unencrypted"
                    .to_owned(),
            });
        }
        if self.curve.is_some() && self.plain.is_some() {
            return Err(Error::Config {
                service: service.to_owned(),
                message: "CURVE and PLAIN are both asked for; a socket has one mechanism: CURVE \
                          authenticates by key (`curve_allow`), so drop `username`/`password`"
                    .to_owned(),
            });
        }
        Ok(())
    }

    fn decide(
        &self,
        address: &str,
        mechanism: &[u8],
        credentials: &[Vec<u8>],
    ) -> Result<String, &'static str> {
        if !self.allow.is_empty() {
            let ip = IpAddr::from_str(address).map_err(|_| "address not understood")?;
            if !self.allow.iter().any(|n| n.contains(ip)) {
                return Err("address not allowed");
            }
        }
        if let Some(curve) = &self.curve {
            return match (mechanism, credentials) {
                (b"CURVE", [key]) if curve.allows(key) => Ok(String::new()),
                (b"CURVE", _) => Err("CURVE key not allowed"),
                _ => Err("CURVE required"),
            };
        }
        match &self.plain {
            None => Ok(String::new()),
            Some((user, password)) => match (mechanism, credentials) {
                (b"PLAIN", [u, p])
                    if constant_time_eq(u, user.as_bytes())
                        && constant_time_eq(p, password.as_bytes()) =>
                {
                    Ok(user.clone())
                }
                (b"PLAIN", _) => Err("invalid username or password"),
                _ => Err("PLAIN credentials required"),
            },
        }
    }
}

/// An IP address or a CIDR network (`127.0.0.1`, `10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.address, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            _ => ip,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    /// ```
    /// use experimance_runtime::Network;
    ///
    /// let lan: Network = "192.168.1.0/24".parse().unwrap();
    /// assert!(lan.contains("192.168.1.7".parse().unwrap()));
    /// assert!(!lan.contains("192.168.2.7".parse().unwrap()));
    /// assert!("10.0.0.0/33".parse::<Network>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Network, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address)
            .map_err(|_| format!("`{text}` is not an IP address or CIDR network"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { address, prefix })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Binds the ZAP handler in `context`; it must exist before bound sockets accept peers.
pub(crate) fn bind_handler(context: &zmq::Context) -> Result<AsyncSocket, zmq::Error> {
    let socket = context.socket(zmq::REP)?;
    socket.set_linger(0)?;
    socket.bind(ZAP_ENDPOINT)?;
    AsyncSocket::wrap(socket, ZAP_ENDPOINT.to_owned())
}

/// Answers ZAP requests until `cancel`. Each refusal is counted in `errors` and logged
/// (rate-limited) with the peer's address and mechanism, never with a password.
pub(crate) async fn serve(
    mut socket: AsyncSocket,
    auth: Auth,
    core: Arc<Core>,
    cancel: CancellationToken,
) -> AsyncSocket {
    let service = core.name();
    loop {
        let request = tokio::select! {
            _ = cancel.cancelled() => return socket,
            request = socket.recv_multipart() => request,
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(service, error = %e, "ZAP handler failed; new connections will be refused");
                return socket;
            }
        };
        // version, request id, domain, address, routing id, mechanism, credentials...
        if request.len() < 6 {
            tracing::warn!(service, frames = request.len(), "malformed ZAP request");
            continue;
        }
        let address = String::from_utf8_lossy(&request[3]).into_owned();
        let mechanism = request[5].as_slice();
        let (code, text, user) = match auth.decide(&address, mechanism, &request[6..]) {
            Ok(user) => ("200", "OK", user),
            Err(reason) => {
                core.counters.error();
                if core.throttles.refused.allow() {
                    // A refused CURVE client is told apart by the first 8 of the 40
                    // characters of its public key: enough to find its key file, and no key
                    // is ever logged whole.
                    let key = match (mechanism, request.get(6)) {
                        (b"CURVE", Some(key)) => zmq::z85_encode(key)
                            .map(|k| format!("{}…", &k[..8]))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    tracing::warn!(
                        service,
                        peer = %Untrusted::str(&address),
                        mechanism = %Untrusted(mechanism),
                        client_key = %Untrusted::str(&key),
                        reason,
                        "connection refused"
                    );
                }
                ("400", reason, String::new())
            }
        };
        let reply: [&[u8]; 6] = [
            b"1.0",
            &request[1],
            code.as_bytes(),
            text.as_bytes(),
            user.as_bytes(),
            b"",
        ];
        if let Err(e) = socket.send_multipart(&reply).await {
            tracing::error!(service, error = %e, "ZAP reply failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(plain: bool, allow: &[&str]) -> Auth {
        Auth {
            plain: plain.then(|| ("user".to_owned(), "secret".to_owned())),
            allow: allow.iter().map(|n| n.parse().unwrap()).collect(),
            curve: None,
        }
    }

    #[test]
    fn curve_keys_are_checked_against_the_allowed_ones() {
        let client = Curve::generate().unwrap();
        let stranger = Curve::generate().unwrap();
        let server = Auth {
            curve: Some(
                Curve::generate()
                    .unwrap()
                    .with_allowed([client.public.clone()]),
            ),
            ..Auth::default()
        };
        let key = |c: &Curve| vec![c.public.as_bytes().to_vec()];
        assert!(server.decide("127.0.0.1", b"CURVE", &key(&client)).is_ok());
        assert!(server
            .decide("127.0.0.1", b"CURVE", &key(&stranger))
            .is_err());
        assert!(server.decide("127.0.0.1", b"NULL", &[]).is_err());
        // Keys and the IP allow-list together.
        let both = Auth {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            ..server.clone()
        };
        assert!(both.decide("127.0.0.1", b"CURVE", &key(&client)).is_err());
        assert!(both.decide("10.1.2.3", b"CURVE", &key(&client)).is_ok());
        // No allowed keys: every client that completes the handshake.
        let open = Auth {
            curve: Some(Curve::generate().unwrap()),
            ..Auth::default()
        };
        assert!(open.decide("127.0.0.1", b"CURVE", &key(&stranger)).is_ok());
    }

    #[test]
    fn plain_needs_both_credentials() {
        let a = auth(true, &[]);
        let creds = |u: &str, p: &str| vec![u.as_bytes().to_vec(), p.as_bytes().to_vec()];
        assert!(a
            .decide("127.0.0.1", b"PLAIN", &creds("user", "secret"))
            .is_ok());
        assert!(a
            .decide("127.0.0.1", b"PLAIN", &creds("user", "wrong"))
            .is_err());
        assert!(a
            .decide("127.0.0.1", b"PLAIN", &creds("other", "secret"))
            .is_err());
        assert!(a.decide("127.0.0.1", b"NULL", &[]).is_err());
    }

    #[test]
    fn allow_list_matches_networks() {
        let a = auth(false, &["127.0.0.1", "10.1.0.0/16", "::1"]);
        assert!(a.decide("127.0.0.1", b"NULL", &[]).is_ok());
        assert!(a.decide("10.1.200.3", b"NULL", &[]).is_ok());
        assert!(a.decide("::1", b"NULL", &[]).is_ok());
        assert!(a.decide("127.0.0.2", b"NULL", &[]).is_err());
        assert!(a.decide("10.2.0.1", b"NULL", &[]).is_err());
        assert!(a.decide("not an ip", b"NULL", &[]).is_err());
    }

    #[test]
    fn debug_redacts_the_password() {
        let text = format!("{:?}", auth(true, &[]));
        assert!(text.contains("user") && !text.contains("secret"), "{text}");
    }
}
