//! A libzmq socket driven by tokio: readiness comes from `ZMQ_FD`, every operation is
//! non-blocking, and waiting happens on the reactor, never on a thread.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::address::{Direction, Endpoint, Role};
use crate::memory::Pipe;

struct ZmqFd {
    socket: zmq::Socket,
    fd: RawFd,
}

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

/// One open socket of a service.
pub(crate) struct AsyncSocket {
    io: Io,
    /// Every endpoint, comma-separated: for logs.
    endpoint: String,
    /// Each endpoint in use, in the order given (a bound wildcard port resolved).
    endpoints: Vec<String>,
    /// The addresses the socket connects to, as given: what a reconnect connects again.
    connects: Vec<String>,
}

enum Io {
    Zmq(AsyncFd<ZmqFd>),
    /// The in-memory stand-in of [`testing`](crate::testing).
    Memory(Pipe),
}

/// Socket options applied before bind/connect. (No `Debug`: it holds a password and keys.)
#[derive(Clone)]
pub(crate) struct SocketOptions {
    pub(crate) linger: Duration,
    pub(crate) hwm: Option<i32>,
    pub(crate) max_message_size: i64,
    /// The largest (un)subscription a PUB socket accepts from a subscriber.
    pub(crate) max_subscription_size: i64,
    pub(crate) zmtp_heartbeat: Option<Duration>,
    /// PLAIN credentials: a bound socket is a PLAIN server, a connecting one a client.
    pub(crate) plain: Option<(String, String)>,
    /// CURVE: each bound endpoint is a CURVE server, each connecting one a client.
    pub(crate) curve: Option<crate::Curve>,
    /// Whether bound sockets ask the ZAP handler about every connection.
    pub(crate) zap: bool,
}

/// What CURVE adds to a frame on the wire (command name, nonce, MAC, flags), with room.
const CURVE_OVERHEAD: i64 = 64;

/// The least frame limit that lets a CURVE handshake through.
const CURVE_HANDSHAKE: i64 = 1024;

/// The inbound high-water mark of a PUB socket's connections, in (un)subscriptions.
const SUBSCRIPTION_HWM: i32 = 16;

/// The ZAP domain of bound sockets when access control is on.
pub(crate) const ZAP_DOMAIN: &str = "experimance";

impl AsyncSocket {
    /// Creates a socket of `role`, applies `options`, subscribes a SUB socket to `topics`,
    /// and binds or connects it to each of `endpoints`. An error names the endpoint it came
    /// from (`None` before any endpoint was tried).
    pub(crate) fn open(
        context: &zmq::Context,
        role: Role,
        endpoints: &[Endpoint],
        options: &SocketOptions,
        topics: &[&str],
    ) -> Result<AsyncSocket, (Option<String>, zmq::Error)> {
        let socket = context.socket(role.socket_type()).map_err(|e| (None, e))?;
        configure(&socket, role, endpoints, options, topics).map_err(|e| (None, e))?;
        let mut resolved = Vec::with_capacity(endpoints.len());
        let mut connects = Vec::new();
        for endpoint in endpoints {
            let failed = |e| (Some(endpoint.address.clone()), e);
            // libzmq takes the mechanism's options as each bind or connect starts.
            if let Some(curve) = &options.curve {
                set_curve(&socket, curve, endpoint.direction).map_err(failed)?;
            }
            match endpoint.direction {
                Direction::Bind => {
                    socket.bind(&endpoint.address).map_err(failed)?;
                    resolved.push(
                        socket
                            .get_last_endpoint()
                            .map_err(failed)?
                            .unwrap_or_else(|_| endpoint.address.clone()),
                    );
                }
                Direction::Connect => {
                    socket.connect(&endpoint.address).map_err(failed)?;
                    resolved.push(endpoint.address.clone());
                    connects.push(endpoint.address.clone());
                }
            }
        }
        let mut socket = AsyncSocket::wrap(socket, resolved.join(",")).map_err(|e| (None, e))?;
        socket.endpoints = resolved;
        socket.connects = connects;
        Ok(socket)
    }

    /// Drives an already bound or connected socket.
    pub(crate) fn wrap(socket: zmq::Socket, endpoint: String) -> Result<AsyncSocket, zmq::Error> {
        let fd = socket.get_fd()?;
        // SAFETY: `ZMQ_FD` belongs to the socket, which `ZmqFd` owns: the descriptor stays
        // open and the same until the `AsyncFd` (and with it the socket) is dropped.
        let inner =
            unsafe { AsyncFd::register_with_interest(ZmqFd { socket, fd }, Interest::READABLE) }
                .map_err(|e| io_to_zmq(e.into()))?;
        Ok(AsyncSocket {
            io: Io::Zmq(inner),
            endpoints: vec![endpoint.clone()],
            endpoint,
            connects: Vec::new(),
        })
    }

    /// An in-memory socket for tests.
    pub(crate) fn memory(pipe: Pipe, endpoint: String) -> AsyncSocket {
        AsyncSocket {
            io: Io::Memory(pipe),
            endpoints: vec![endpoint.clone()],
            endpoint,
            connects: Vec::new(),
        }
    }

    /// Sets how long closing may wait for queued outgoing messages.
    pub(crate) fn set_linger(&self, linger: Duration) -> Result<(), zmq::Error> {
        match &self.io {
            Io::Zmq(_) => self.socket().set_linger(millis(linger)),
            Io::Memory(_) => Ok(()),
        }
    }

    /// Receives one whole multipart message, waiting for it.
    pub(crate) async fn recv_multipart(&mut self) -> Result<Vec<Vec<u8>>, zmq::Error> {
        loop {
            match self.socket().recv_multipart(zmq::DONTWAIT) {
                Ok(parts) => return Ok(parts),
                Err(zmq::Error::EAGAIN) => self.ready(zmq::POLLIN).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a multipart message, waiting until the socket can take it.
    pub(crate) async fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<(), zmq::Error> {
        self.ready(zmq::POLLOUT).await?;
        self.socket()
            .send_multipart(parts.iter().copied(), zmq::DONTWAIT)
    }

    /// The addresses the socket is bound or connected to, comma-separated; for a bound
    /// wildcard port, the port the system chose.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Each address the socket is bound or connected to, in the order given.
    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The libzmq socket, `None` for an in-memory one.
    pub(crate) fn zmq(&self) -> Option<&zmq::Socket> {
        match &self.io {
            Io::Zmq(inner) => Some(&inner.get_ref().socket),
            Io::Memory(_) => None,
        }
    }

    /// The address this socket connects to (as given) that libzmq's event `endpoint` is
    /// about; `None` for a connection accepted on a bound endpoint (see [`Connects`]).
    pub(crate) fn connected_address(&self, endpoint: &str) -> Option<&str> {
        connected_address(&self.connects, &self.endpoints, endpoint)
    }

    /// What tells this socket's own connections from those it accepted, for a task that
    /// does not hold the socket.
    pub(crate) fn connects(&self) -> Connects {
        Connects {
            connects: self.connects.clone(),
            endpoints: self.endpoints.clone(),
        }
    }

    /// Connects again to `address` (one this socket connects to, as given), after dropping
    /// what is left of the old connection.
    pub(crate) fn reconnect(&self, address: &str) -> Result<(), zmq::Error> {
        let Some(socket) = self.zmq() else {
            return Ok(());
        };
        let _ = socket.disconnect(address);
        socket.connect(address)
    }

    /// The libzmq socket. In-memory sockets return early from every method that gets here.
    fn socket(&self) -> &zmq::Socket {
        match &self.io {
            Io::Zmq(inner) => &inner.get_ref().socket,
            Io::Memory(_) => unreachable!("in-memory sockets are handled before libzmq calls"),
        }
    }

    fn memory_pipe(&mut self) -> Option<&mut Pipe> {
        match &mut self.io {
            Io::Memory(pipe) => Some(pipe),
            Io::Zmq(_) => None,
        }
    }

    /// Waits until libzmq reports `event` on the socket.
    ///
    /// `ZMQ_FD` only signals that the socket's events may have changed, so the truth is
    /// always read from `ZMQ_EVENTS`, after clearing tokio's readiness so no edge is lost.
    ///
    /// Methods take `&mut self` so that a future holding the socket is `Send` although a
    /// libzmq socket is not `Sync`.
    pub(crate) async fn ready(&mut self, event: zmq::PollEvents) -> Result<(), zmq::Error> {
        loop {
            let inner = match &mut self.io {
                Io::Memory(pipe) if event == zmq::POLLIN => {
                    pipe.readable().await;
                    return Ok(());
                }
                Io::Memory(_) => return Ok(()),
                Io::Zmq(inner) => inner,
            };
            if inner.get_ref().socket.get_events()?.contains(event) {
                return Ok(());
            }
            let mut guard = inner.readable_mut().await.map_err(io_to_zmq)?;
            guard.clear_ready();
        }
    }

    /// Waits until libzmq signals that the socket's state may have changed, without asking
    /// libzmq anything (an in-memory socket never signals). Whoever waits must then look at
    /// the socket until it has nothing more to say: a change that comes while looking
    /// signals again.
    pub(crate) async fn changed(&mut self) -> Result<(), zmq::Error> {
        match &mut self.io {
            Io::Memory(_) => std::future::pending().await,
            Io::Zmq(inner) => {
                let mut guard = inner.readable_mut().await.map_err(io_to_zmq)?;
                guard.clear_ready();
                Ok(())
            }
        }
    }

    /// Receives one message part without waiting; `Ok(false)` when none is queued.
    pub(crate) fn try_recv(&mut self, msg: &mut zmq::Message) -> Result<bool, zmq::Error> {
        if let Some(pipe) = self.memory_pipe() {
            return Ok(pipe
                .try_recv()
                .map(|frame| *msg = zmq::Message::from(frame))
                .is_some());
        }
        match self.socket().recv(msg, zmq::DONTWAIT) {
            Ok(()) => Ok(true),
            Err(zmq::Error::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one single-part message if the socket takes it now; `Ok(false)` if it would
    /// have to wait.
    pub(crate) fn try_send(&mut self, data: &[u8]) -> Result<bool, zmq::Error> {
        if let Some(pipe) = self.memory_pipe() {
            pipe.send(data.to_vec());
            return Ok(true);
        }
        match self.socket().send(data, zmq::DONTWAIT) {
            Ok(()) => Ok(true),
            Err(zmq::Error::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A second registration of the socket's `ZMQ_FD`, for a task that must learn of the
    /// socket's changes without holding the socket (`None` for in-memory sockets).
    pub(crate) fn readiness(&self) -> Option<io::Result<Readiness>> {
        let Io::Zmq(inner) = &self.io else {
            return None;
        };
        // SAFETY: `ZMQ_FD` stays open while the socket lives, and `&self` keeps it alive for
        // this call. The duplicate made from it is an `OwnedFd` that the `AsyncFd` owns: it
        // stays open and the same until the `AsyncFd` is dropped.
        let fd = unsafe { BorrowedFd::borrow_raw(inner.get_ref().fd) };
        Some(fd.try_clone_to_owned().and_then(|fd| {
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map(Readiness)
                .map_err(io::Error::from)
        }))
    }

    /// Sends one single-part message whose buffer libzmq takes over, without copying it.
    ///
    /// Only for the PUB (XPUB) socket: it never refuses a message with EAGAIN (at its
    /// high-water mark it drops, as PUB does; `ZMQ_XPUB_NODROP` is never set), so a frame
    /// handed over is never needed back for a retry. Other sockets use [`AsyncSocket::send`].
    pub(crate) fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), zmq::Error> {
        if let Some(pipe) = self.memory_pipe() {
            pipe.send(frame);
            return Ok(());
        }
        self.socket().send(zmq::Message::from(frame), zmq::DONTWAIT)
    }

    /// Sends one single-part message, waiting (on the reactor) while the socket cannot take
    /// it: a PUSH socket whose peers are all at their high-water mark, or that has no peer yet.
    pub(crate) async fn send(&mut self, data: &[u8]) -> Result<(), zmq::Error> {
        if let Some(pipe) = self.memory_pipe() {
            pipe.send(data.to_vec());
            return Ok(());
        }
        loop {
            match self.socket().send(data, zmq::DONTWAIT) {
                Ok(()) => return Ok(()),
                Err(zmq::Error::EAGAIN) => self.ready(zmq::POLLOUT).await?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A socket's addresses as given and endpoints, to tell the connections it makes from those
/// it accepted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connects {
    connects: Vec<String>,
    endpoints: Vec<String>,
}

impl Connects {
    /// As [`AsyncSocket::connected_address`].
    pub(crate) fn address(&self, endpoint: &str) -> Option<&str> {
        connected_address(&self.connects, &self.endpoints, endpoint)
    }
}

/// The address of `connects` that libzmq's event `endpoint` is about; `None` for a
/// connection accepted on a bound endpoint. libzmq names a connection by its address as
/// given at first, and by the resolved one after a reconnect (`tcp://localhost:5555`, then
/// `tcp://127.0.0.1:5555`), so a TCP endpoint that is not an address as given is matched by
/// its port, when one address connects to that port. A connection accepted on a wildcard
/// bind (`tcp://0.0.0.0:5555`) is named by its concrete local address, which no address as
/// given has: it is not one of the socket's own.
fn connected_address<'a>(
    connects: &'a [String],
    endpoints: &[String],
    endpoint: &str,
) -> Option<&'a str> {
    if let Some(exact) = connects.iter().find(|a| *a == endpoint) {
        return Some(exact);
    }
    // A bound endpoint names the connections it accepted.
    if endpoints.iter().any(|e| e == endpoint) {
        return None;
    }
    let port = |a: &str| {
        a.strip_prefix("tcp://")
            .and_then(|rest| rest.rsplit_once(':'))
            .map(|(_, port)| port.to_owned())
    };
    let wanted = port(endpoint)?;
    let mut same_port = connects
        .iter()
        .filter(|a| port(a).as_deref() == Some(&wanted));
    match (same_port.next(), same_port.next()) {
        (Some(only), None) => Some(only.as_str()),
        _ => None,
    }
}

/// Tells a task that a socket's state may have changed (a command arrived for it), without
/// access to the socket.
pub(crate) struct Readiness(AsyncFd<OwnedFd>);

impl Readiness {
    /// Waits for the next change. Whoever waits must then look at the socket until it has
    /// nothing more to say: a change that comes while looking signals again.
    pub(crate) async fn changed(&self) -> io::Result<()> {
        let mut guard = self.0.readable().await?;
        guard.clear_ready();
        Ok(())
    }
}

/// Applies `options` to a new socket of `role` that will bind or connect to `endpoints`, and
/// subscribes a SUB socket to `topics`.
fn configure(
    socket: &zmq::Socket,
    role: Role,
    endpoints: &[Endpoint],
    options: &SocketOptions,
    topics: &[&str],
) -> Result<(), zmq::Error> {
    socket.set_linger(millis(options.linger))?;
    if let Some(hwm) = options.hwm {
        socket.set_sndhwm(hwm)?;
        socket.set_rcvhwm(hwm)?;
    }
    match role {
        Role::Sub | Role::Pull => socket.set_maxmsgsize(options.max_message_size)?,
        // What a subscriber sends a publisher is (un)subscriptions: small. A larger one is
        // refused while it is read, so it is never buffered, and its sender dropped.
        Role::Pub => {
            // libzmq applies the limit to each frame as it crosses the wire: with CURVE that
            // includes the handshake's INITIATE command (about 300 bytes) and the 33 bytes
            // that encryption adds to each subscription.
            let limit = match options.curve {
                Some(_) => (options.max_subscription_size + CURVE_OVERHEAD).max(CURVE_HANDSHAKE),
                None => options.max_subscription_size,
            };
            socket.set_maxmsgsize(limit)?;
            socket.set_xpub_verbose(true)?;
            // What flows in is subscriptions. A short inbound queue makes libzmq take them in
            // at about the pace the service reads them, so a subscriber over the budget is cut
            // off before libzmq has taken in many more.
            socket.set_rcvhwm(SUBSCRIPTION_HWM)?;
        }
        Role::Push => {}
    }
    let binds = endpoints.iter().any(|e| e.direction == Direction::Bind);
    let connects = endpoints.iter().any(|e| e.direction == Direction::Connect);
    // A connecting PUSH queues nothing for a puller that is not there yet: the send is
    // refused, waits in the service's send queue, and is counted if the stop finds it there.
    // (libzmq applies this to connections the socket makes, not to those it accepts.)
    if role == Role::Push && connects {
        socket.set_immediate(true)?;
    }
    // Only PUB/SUB: under back-pressure libzmq stops reading a connection, a PONG then waits
    // behind data, and the peer would be taken for dead and dropped together with the tasks
    // queued for it — a loss PUSH/PULL must not have.
    if let (Some(period), Role::Pub | Role::Sub) = (options.zmtp_heartbeat, role) {
        socket.set_heartbeat_ivl(millis(period))?;
        socket.set_heartbeat_timeout(millis(period * 3))?;
        socket.set_heartbeat_ttl(millis(period * 3).min(6_553_500))?;
    }
    if binds && options.zap {
        socket.set_zap_domain(ZAP_DOMAIN)?;
    }
    // PLAIN is one side per socket; settings refuse a socket that both binds and connects.
    if let Some((username, password)) = &options.plain {
        if binds {
            socket.set_plain_server(true)?;
        } else {
            socket.set_plain_username(Some(username))?;
            socket.set_plain_password(Some(password))?;
        }
    }
    if role == Role::Sub {
        for topic in topics {
            socket.set_subscribe(topic.as_bytes())?;
        }
    }
    Ok(())
}

/// Makes the next bind a CURVE server with the service's secret key, or the next connect a
/// client with its key pair, expecting the server key.
fn set_curve(socket: &zmq::Socket, curve: &crate::Curve, direction: Direction) -> zmq::Result<()> {
    match direction {
        Direction::Bind => {
            socket.set_curve_server(true)?;
            socket.set_curve_secretkey(curve.secret.as_bytes())
        }
        Direction::Connect => {
            // Settings refuse a connecting endpoint without a server key.
            let server = curve.server.as_ref().ok_or(zmq::Error::EINVAL)?;
            socket.set_curve_serverkey(server.as_bytes())?;
            socket.set_curve_publickey(curve.public.as_bytes())?;
            socket.set_curve_secretkey(curve.secret.as_bytes())
        }
    }
}

fn io_to_zmq(e: io::Error) -> zmq::Error {
    e.raw_os_error()
        .map(zmq::Error::from_raw)
        .unwrap_or(zmq::Error::EFAULT)
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libzmq names a connection by its address as given, and by the resolved one after a
    /// reconnect; a connection accepted on a bound endpoint is none of the socket's own.
    #[tokio::test]
    async fn connection_events_map_to_the_addresses_as_given() {
        let context = zmq::Context::new();
        let options = SocketOptions {
            linger: Duration::ZERO,
            hwm: None,
            max_message_size: 1024,
            max_subscription_size: 256,
            zmtp_heartbeat: None,
            plain: None,
            curve: None,
            zap: false,
        };
        let endpoints = [
            Endpoint::parse(Role::Sub, "@tcp://127.0.0.1:*"),
            Endpoint::parse(Role::Sub, ">tcp://localhost:1"),
            Endpoint::parse(Role::Sub, ">ipc:///nonexistent/experimance-test"),
        ];
        let socket = AsyncSocket::open(&context, Role::Sub, &endpoints, &options, &[""])
            .unwrap_or_else(|(at, e)| panic!("open at {at:?}: {e}"));
        let bound = socket.endpoints()[0].clone();
        assert_eq!(
            socket.connected_address("tcp://localhost:1"),
            Some("tcp://localhost:1")
        );
        assert_eq!(
            socket.connected_address("tcp://127.0.0.1:1"),
            Some("tcp://localhost:1"),
            "the resolved name of the same connection"
        );
        assert_eq!(
            socket.connected_address("ipc:///nonexistent/experimance-test"),
            Some("ipc:///nonexistent/experimance-test")
        );
        assert_eq!(socket.connected_address(&bound), None, "accepted, not made");
        assert_eq!(socket.connected_address("tcp://10.0.0.1:2"), None);
    }
}
