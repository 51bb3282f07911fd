use std::fmt;

/// The four socket roles of the wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A PUB socket: publishes `<topic> <json>` frames. Binds by default.
    Pub,
    /// A SUB socket: receives the topics it subscribes to. Connects by default.
    Sub,
    /// A PUSH socket: sends JSON tasks to pullers, round robin. Binds by default.
    Push,
    /// A PULL socket: receives JSON tasks. Connects by default.
    Pull,
}

impl Role {
    /// All roles, in the order of the attribute keys.
    pub const ALL: [Role; 4] = [Role::Pub, Role::Sub, Role::Push, Role::Pull];

    /// The `#[service]` key that configures this role (`pub`, `sub`, `push`, `pull`).
    pub fn key(self) -> &'static str {
        match self {
            Role::Pub => "pub",
            Role::Sub => "sub",
            Role::Push => "push",
            Role::Pull => "pull",
        }
    }

    /// Whether the Python services bind (rather than connect) this role by default.
    pub fn binds_by_default(self) -> bool {
        matches!(self, Role::Pub | Role::Push)
    }

    pub(crate) fn socket_type(self) -> zmq::SocketType {
        match self {
            // XPUB sends exactly as PUB does, and also tells who subscribes to what: a
            // subscription to the description topic asks for the service's description.
            Role::Pub => zmq::XPUB,
            Role::Sub => zmq::SUB,
            Role::Push => zmq::PUSH,
            Role::Pull => zmq::PULL,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Pub => "PUB",
            Role::Sub => "SUB",
            Role::Push => "PUSH",
            Role::Pull => "PULL",
        })
    }
}

/// Whether a socket binds its endpoint or connects to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `zmq_bind`: this side owns the address.
    Bind,
    /// `zmq_connect`: this side reaches an address someone else owns.
    Connect,
}

/// An endpoint with its direction resolved: `@` forces bind, `>` forces connect, and
/// otherwise the role decides (PUB/PUSH bind, SUB/PULL connect), as in the Python services.
///
/// ```
/// use experimance_runtime::{Direction, Endpoint, Role};
///
/// let e = Endpoint::parse(Role::Sub, "@tcp://127.0.0.1:*");
/// assert_eq!(e.direction, Direction::Bind);
/// assert_eq!(e.address, "tcp://127.0.0.1:*");
/// assert_eq!(Endpoint::parse(Role::Pub, "tcp://*:5555").direction, Direction::Bind);
/// assert_eq!(Endpoint::parse(Role::Pub, ">tcp://hub:5555").direction, Direction::Connect);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The ZeroMQ address without its prefix.
    pub address: String,
    /// Bind or connect.
    pub direction: Direction,
}

impl Endpoint {
    /// Resolves the direction of `spec` for a socket of `role`.
    pub fn parse(role: Role, spec: &str) -> Endpoint {
        let spec = spec.trim();
        let (direction, address) = if let Some(rest) = spec.strip_prefix('@') {
            (Direction::Bind, rest)
        } else if let Some(rest) = spec.strip_prefix('>') {
            (Direction::Connect, rest)
        } else if role.binds_by_default() {
            (Direction::Bind, spec)
        } else {
            (Direction::Connect, spec)
        };
        Endpoint {
            address: address.to_owned(),
            direction,
        }
    }
}

/// The endpoints of one socket: one or several addresses, each with its own `@`/`>` prefix.
/// [`Runner::with_address`](crate::Runner::with_address) takes anything that converts into
/// it: a string, or an array, slice or `Vec` of strings.
///
/// ```
/// use experimance_runtime::Addresses;
///
/// assert_eq!(Addresses::from("tcp://core:5555").len(), 1);
/// let both = Addresses::from(["tcp://core:5555", ">tcp://agent:5557"]);
/// assert_eq!(both.iter().collect::<Vec<_>>(), ["tcp://core:5555", ">tcp://agent:5557"]);
/// // The form of environment variables: entries separated by commas.
/// assert_eq!(Addresses::split("tcp://core:5555, >tcp://agent:5557"), both);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addresses(Vec<String>);

impl Addresses {
    /// Splits a comma-separated list, as environment variables give it; blank entries are
    /// skipped.
    pub fn split(list: &str) -> Addresses {
        Addresses(
            list.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The addresses, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().map(String::as_str)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The addresses as a `Vec`.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl From<&str> for Addresses {
    fn from(address: &str) -> Self {
        Addresses(vec![address.to_owned()])
    }
}

impl From<String> for Addresses {
    fn from(address: String) -> Self {
        Addresses(vec![address])
    }
}

impl From<&String> for Addresses {
    fn from(address: &String) -> Self {
        Addresses(vec![address.clone()])
    }
}

impl<T: Into<String>> From<Vec<T>> for Addresses {
    fn from(list: Vec<T>) -> Self {
        Addresses(list.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<String>, const N: usize> From<[T; N]> for Addresses {
    fn from(list: [T; N]) -> Self {
        Addresses(list.into_iter().map(Into::into).collect())
    }
}

impl<T: AsRef<str>> From<&[T]> for Addresses {
    fn from(list: &[T]) -> Self {
        Addresses(list.iter().map(|a| a.as_ref().to_owned()).collect())
    }
}

impl fmt::Display for Addresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// The environment variable that overrides `key` of the service `name`:
/// `EXPERIMANCE_<NAME>_<KEY>`, with `NAME` upper-cased and every character that is not
/// ASCII alphanumeric turned into `_`. `KEY` is the attribute key upper-cased (`PUB`, `SUB`,
/// `HEARTBEAT_INTERVAL`, `ALLOW`, ...); a list is written with commas between entries.
///
/// ```
/// use experimance_runtime::{env_var_name, Role};
///
/// assert_eq!(env_var_name("MyPublisher", Role::Pub), "EXPERIMANCE_MYPUBLISHER_PUB");
/// assert_eq!(env_var_name("image-server.1", Role::Pull), "EXPERIMANCE_IMAGE_SERVER_1_PULL");
/// assert_eq!(env_var_name("MyPublisher", "PASSWORD"), "EXPERIMANCE_MYPUBLISHER_PASSWORD");
/// ```
pub fn env_var_name(name: &str, key: impl fmt::Display) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("EXPERIMANCE_{name}_{key}")
}
