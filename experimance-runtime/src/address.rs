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

/// The environment variable that overrides `key` of the service `name`:
/// `EXPERIMANCE_<NAME>_<KEY>`, with `NAME` upper-cased and every character that is not
/// ASCII alphanumeric turned into `_`. Keys are the roles (`PUB`, `SUB`, `PUSH`, `PULL`) for
/// addresses, and `USERNAME`, `PASSWORD`, `ALLOW` for access control.
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
