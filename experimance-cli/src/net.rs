//! Opening sockets from `@`/`>` endpoint specs, and waits that honour Ctrl-C.

use std::time::{Duration, Instant};

use experimance_runtime::{Direction, Endpoint, Role};

use crate::ctx::{Ctx, TICK};
use crate::error::{CliError, Result};

/// The transports libzmq may understand; anything else is refused before libzmq sees it.
const TRANSPORTS: [&str; 9] = [
    "tcp", "ipc", "inproc", "pgm", "epgm", "ws", "wss", "tipc", "vmci",
];

/// What an address should look like, for error messages.
const ADDRESS_HELP: &str = "expected TRANSPORT://ADDRESS such as tcp://localhost:5555, \
tcp://*:5555, ipc:///tmp/feed or inproc://name, optionally prefixed with `@` (bind) or `>` \
(connect)";

/// Resolves `spec` for a socket of `role` (`@` binds, `>` connects, else the role decides)
/// and checks its shape.
pub fn endpoint(role: Role, spec: &str) -> Result<Endpoint> {
    let endpoint = Endpoint::parse(role, spec);
    let ok = match endpoint.address.split_once("://") {
        Some((transport, rest)) => TRANSPORTS.contains(&transport) && !rest.is_empty(),
        None => false,
    };
    if ok {
        Ok(endpoint)
    } else {
        Err(CliError::usage(format!(
            "bad address `{spec}`: {ADDRESS_HELP}"
        )))
    }
}

/// An open socket and where it is.
pub struct Opened {
    /// The socket.
    pub socket: zmq::Socket,
    /// The address, with the port the system chose for a bound `*`.
    pub address: String,
    /// Whether it was bound or connected.
    pub direction: Direction,
}

impl Opened {
    /// `bound to ADDRESS` or `connected to ADDRESS`.
    pub fn describe(&self) -> String {
        match self.direction {
            Direction::Bind => format!("bound to {}", self.address),
            Direction::Connect => format!("connected to {}", self.address),
        }
    }
}

/// Opens a socket of `kind`, applies `setup` and binds or connects it per `spec`, whose
/// default direction is that of `role`. `label` names the socket in messages.
pub fn open(
    ctx: &Ctx,
    kind: zmq::SocketType,
    label: &str,
    role: Role,
    spec: &str,
    setup: impl FnOnce(&zmq::Socket, Direction) -> zmq::Result<()>,
) -> Result<Opened> {
    let endpoint = endpoint(role, spec)?;
    let socket = ctx
        .zmq
        .socket(kind)
        .map_err(|e| CliError::runtime(format!("cannot create {label} socket: {e}")))?;
    setup(&socket, endpoint.direction)
        .map_err(|e| CliError::runtime(format!("cannot configure {label} socket: {e}")))?;
    let (verb, result) = match endpoint.direction {
        Direction::Bind => ("bind", socket.bind(&endpoint.address)),
        Direction::Connect => ("connect", socket.connect(&endpoint.address)),
    };
    if let Err(e) = result {
        let message = format!(
            "cannot {verb} {label} socket to `{}`: {e}",
            endpoint.address
        );
        return Err(match e {
            zmq::Error::EINVAL
            | zmq::Error::EPROTONOSUPPORT
            | zmq::Error::ENOCOMPATPROTO
            | zmq::Error::ENODEV
            | zmq::Error::EADDRNOTAVAIL => CliError::usage(format!("{message} ({ADDRESS_HELP})")),
            _ => CliError::runtime(message),
        });
    }
    let address = match endpoint.direction {
        Direction::Bind => match socket.get_last_endpoint() {
            Ok(Ok(address)) if !address.is_empty() => address,
            _ => endpoint.address.clone(),
        },
        Direction::Connect => endpoint.address.clone(),
    };
    Ok(Opened {
        socket,
        address,
        direction: endpoint.direction,
    })
}

/// A topic no one publishes, subscribed to by the commands that only look on (`watch`,
/// `hz`, `topics`) beside their subscription to everything: `publish --subscribers` then
/// knows that they are not the subscribers it waits for.
pub const OBSERVER: &str = "experimance.observer";

/// Opens a SUB socket for a command that only looks on: as [`open_sub`], marked with an
/// [`OBSERVER`] subscription.
pub fn open_observer(
    ctx: &Ctx,
    specs: &[String],
    topics: &[String],
) -> Result<(zmq::Socket, String)> {
    open_sub_with(ctx, specs, topics, |s| s.set_subscribe(OBSERVER.as_bytes()))
}

/// Opens a SUB socket on every spec of `specs` (each connects unless prefixed with `@`),
/// subscribed to `topics` (every topic when empty).
pub fn open_sub(ctx: &Ctx, specs: &[String], topics: &[String]) -> Result<(zmq::Socket, String)> {
    open_sub_with(ctx, specs, topics, |_| Ok(()))
}

/// As [`open_sub`], with `setup` applied to the socket before it binds or connects.
pub fn open_sub_with(
    ctx: &Ctx,
    specs: &[String],
    topics: &[String],
    setup: impl FnOnce(&zmq::Socket) -> zmq::Result<()>,
) -> Result<(zmq::Socket, String)> {
    let mut places = Vec::new();
    let mut socket: Option<zmq::Socket> = None;
    let mut setup = Some(setup);
    for spec in specs {
        let opened = match socket.take() {
            None => open(ctx, zmq::SUB, "SUB", Role::Sub, spec, |s, _| {
                s.set_linger(0)?;
                if topics.is_empty() {
                    s.set_subscribe(b"")?;
                }
                for topic in topics {
                    s.set_subscribe(topic.as_bytes())?;
                }
                setup.take().map_or(Ok(()), |setup| setup(s))
            })?,
            Some(existing) => attach(existing, "SUB", Role::Sub, spec)?,
        };
        places.push(opened.describe());
        socket = Some(opened.socket);
    }
    let socket = socket.ok_or_else(|| CliError::usage("no address given"))?;
    let topics = if topics.is_empty() {
        "every topic".to_owned()
    } else {
        format!("topics starting with {}", topics.join(", "))
    };
    Ok((
        socket,
        format!("{}; subscribed to {topics}", places.join(", ")),
    ))
}

/// Binds or connects an already configured socket to one more endpoint.
fn attach(socket: zmq::Socket, label: &str, role: Role, spec: &str) -> Result<Opened> {
    let endpoint = endpoint(role, spec)?;
    let result = match endpoint.direction {
        Direction::Bind => socket.bind(&endpoint.address),
        Direction::Connect => socket.connect(&endpoint.address),
    };
    match result {
        Ok(()) => {
            let address = match endpoint.direction {
                Direction::Bind => socket
                    .get_last_endpoint()
                    .ok()
                    .and_then(|a| a.ok())
                    .unwrap_or_else(|| endpoint.address.clone()),
                Direction::Connect => endpoint.address.clone(),
            };
            Ok(Opened {
                socket,
                address,
                direction: endpoint.direction,
            })
        }
        Err(e @ (zmq::Error::EINVAL | zmq::Error::EPROTONOSUPPORT | zmq::Error::ENODEV)) => {
            Err(CliError::usage(format!(
                "bad address `{spec}` for {label} socket: {e} ({ADDRESS_HELP})"
            )))
        }
        Err(e) => Err(CliError::runtime(format!(
            "cannot open {label} socket on `{}`: {e}",
            endpoint.address
        ))),
    }
}

/// Waits up to `wait` for any of `sockets` to have a message; which ones have (an
/// interrupted wait: none).
pub fn readable<'a>(
    sockets: impl IntoIterator<Item = &'a zmq::Socket>,
    wait: Duration,
) -> Result<Vec<bool>> {
    let mut items: Vec<zmq::PollItem<'_>> = sockets
        .into_iter()
        .map(|s| s.as_poll_item(zmq::POLLIN))
        .collect();
    match zmq::poll(&mut items, millis(wait)) {
        Ok(_) => Ok(items.iter().map(zmq::PollItem::is_readable).collect()),
        Err(zmq::Error::EINTR) => Ok(vec![false; items.len()]),
        Err(e) => Err(CliError::runtime(format!("poll failed: {e}"))),
    }
}

/// What a wait for a message gave.
pub enum Recv {
    /// A message, as its frames.
    Frames(Vec<Vec<u8>>),
    /// The deadline passed.
    Timeout,
    /// Ctrl-C / SIGTERM.
    Stopped,
}

/// Waits for the next message on `socket` until `deadline`, waking every tick to honour a
/// stop request.
pub fn recv(ctx: &Ctx, socket: &zmq::Socket, deadline: Option<Instant>) -> Result<Recv> {
    loop {
        if ctx.stopped() {
            return Ok(Recv::Stopped);
        }
        let wait = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(TICK),
                _ => return Ok(Recv::Timeout),
            },
            None => TICK,
        };
        match socket.poll(zmq::POLLIN, millis(wait)) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => return Ok(Recv::Frames(frames)),
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
                Err(e) => return Err(CliError::runtime(format!("receive failed: {e}"))),
            },
            Err(e) => return Err(CliError::runtime(format!("poll failed: {e}"))),
        }
    }
}

/// What an attempt to send gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued for a peer.
    Yes,
    /// No peer could take it in time.
    Timeout,
    /// Ctrl-C / SIGTERM.
    Stopped,
}

/// Sends `frame` as soon as `socket` can take it (a PUSH socket can once a PULL peer is
/// connected), within `timeout`.
pub fn send_ready(
    ctx: &Ctx,
    socket: &zmq::Socket,
    frame: &[u8],
    timeout: Duration,
) -> Result<Sent> {
    let deadline = Instant::now() + timeout;
    loop {
        if ctx.stopped() {
            return Ok(Sent::Stopped);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match socket.poll(zmq::POLLOUT, millis(left.min(TICK))) {
            Ok(0) | Err(zmq::Error::EINTR) => {}
            Ok(_) => match socket.send(frame, zmq::DONTWAIT) {
                Ok(()) => return Ok(Sent::Yes),
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {}
                Err(e) => return Err(CliError::runtime(format!("send failed: {e}"))),
            },
            Err(e) => return Err(CliError::runtime(format!("poll failed: {e}"))),
        }
        if Instant::now() >= deadline {
            return Ok(Sent::Timeout);
        }
    }
}

/// Sends `frame` on a PUB/XPUB socket, which never blocks (it drops for slow subscribers).
pub fn publish(socket: &zmq::Socket, frame: &[u8]) -> Result<()> {
    loop {
        match socket.send(frame, 0) {
            Ok(()) => return Ok(()),
            Err(zmq::Error::EINTR) => continue,
            Err(e) => return Err(CliError::runtime(format!("publish failed: {e}"))),
        }
    }
}

/// Opens the publishing socket of `publish` and `replay`: an XPUB, which is a PUB on the
/// wire but also receives the subscriptions of its subscribers, so that the command can wait
/// for them instead of sleeping (the "slow joiner" of PUB/SUB).
pub fn open_xpub(ctx: &Ctx, spec: &str, linger: Duration) -> Result<Opened> {
    open(ctx, zmq::XPUB, "PUB", Role::Pub, spec, |s, direction| {
        s.set_xpub_verbose(true)?;
        s.set_linger(linger_ms(linger))?;
        if direction == Direction::Connect {
            s.set_immediate(true)?;
        }
        Ok(())
    })
}

/// Waits on an XPUB socket until `want` subscribers have subscribed to a prefix accepted by
/// `matches` (which gets the subscribed prefix), at most `wait`. Returns how many did.
///
/// Subscribers are told apart by their connection, so one that subscribes to several
/// matching prefixes counts once, and one that also subscribes to [`OBSERVER`] (a `watch`,
/// `hz` or `topics`) not at all: its subscription to everything matches every topic, but it
/// is not who the message is for. A subscriber's subscriptions arrive together when it
/// connects, so each batch is read whole before anyone is counted.
pub fn wait_subscribers(
    ctx: &Ctx,
    socket: &zmq::Socket,
    want: usize,
    wait: Duration,
    matches: impl Fn(&[u8]) -> bool,
) -> Result<usize> {
    #[derive(Default)]
    struct Subscriber {
        matched: bool,
        observer: bool,
    }
    let deadline = Instant::now() + wait;
    let mut subscribers: Vec<(String, Subscriber)> = Vec::new();
    let mut anonymous = 0;
    let count = |subscribers: &[(String, Subscriber)], anonymous: usize| {
        anonymous
            + subscribers
                .iter()
                .filter(|(_, s)| s.matched && !s.observer)
                .count()
    };
    while count(&subscribers, anonymous) < want {
        if ctx.stopped() {
            break;
        }
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            break;
        };
        match socket.poll(zmq::POLLIN, millis(left.min(TICK))) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(CliError::runtime(format!("poll failed: {e}"))),
        }
        // Everything queued, before counting.
        loop {
            let mut msg = zmq::Message::new();
            match socket.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(CliError::runtime(format!("receive failed: {e}"))),
            }
            let [1, prefix @ ..] = &msg[..] else {
                continue;
            };
            let observer = prefix == OBSERVER.as_bytes();
            if !observer && !matches(prefix) {
                continue;
            }
            let Some(fd) = msg.gets("__fd").map(str::to_owned) else {
                anonymous += usize::from(!observer);
                continue;
            };
            let at = match subscribers.iter().position(|(f, _)| *f == fd) {
                Some(at) => at,
                None => {
                    subscribers.push((fd, Subscriber::default()));
                    subscribers.len() - 1
                }
            };
            let subscriber = &mut subscribers[at].1;
            subscriber.observer |= observer;
            subscriber.matched |= !observer;
        }
    }
    Ok(count(&subscribers, anonymous))
}

/// Drops the subscription messages queued on an XPUB socket.
pub fn drain(socket: &zmq::Socket) {
    while socket.recv_multipart(zmq::DONTWAIT).is_ok() {}
}

/// Whether a subscription `prefix` lets a frame starting with `head` through, as far as
/// `head` goes (a longer prefix may still match: counted as matching).
pub fn prefix_matches(prefix: &[u8], head: &[u8]) -> bool {
    head.starts_with(prefix) || prefix.starts_with(head)
}

/// Milliseconds for libzmq, at least 1 so that a short wait does not spin.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A linger for libzmq (0 drops queued messages at close).
pub fn linger_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
