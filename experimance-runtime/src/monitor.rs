//! Watching a socket's connections through a libzmq socket monitor.
//!
//! libzmq reconnects a connection that fails, but not one it dropped for a protocol error,
//! such as a peer sending a frame over `max_message_size`: the socket would then stay deaf
//! for good. So a connecting SUB or PULL is watched, and every lost connection is connected
//! again by the service itself. The PUB socket is watched too, to know which connections
//! are open when it budgets its subscribers' subscriptions.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::socket::AsyncSocket;

/// What happened to one connection of the watched socket; `endpoint` is the address as
/// libzmq names it (for a connecting socket, the address it connects to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Connection {
    /// A connection was accepted or made (its descriptor).
    Opened(RawFd),
    /// A connection completed its handshake.
    Up { endpoint: String },
    /// libzmq is connecting again by itself after a loss (or a failed attempt).
    Retrying { endpoint: String },
    /// An established connection was lost (its descriptor).
    Lost { fd: RawFd, endpoint: String },
    /// A handshake failed (a CURVE key that does not match, a refusal by the peer's ZAP
    /// handler): what libzmq says of it.
    HandshakeFailed {
        endpoint: String,
        reason: &'static str,
        /// The peer's ZAP handler (or this one's) refused the credentials.
        refused: bool,
    },
}

impl Connection {
    /// The address libzmq names the connection by, for the events that carry one.
    pub(crate) fn endpoint_mut(&mut self) -> Option<&mut String> {
        match self {
            Connection::Up { endpoint }
            | Connection::Retrying { endpoint }
            | Connection::Lost { endpoint, .. }
            | Connection::HandshakeFailed { endpoint, .. } => Some(endpoint),
            Connection::Opened(_) => None,
        }
    }
}

/// Which events a monitor reports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Watch {
    /// Lost connections, libzmq's retries and completed handshakes: to mend a connecting
    /// socket.
    Mending,
    /// Opened and lost connections: to know a bound socket's peers.
    Peers,
    /// Failed handshakes alone: to say why a connecting socket gets nowhere.
    Handshakes,
}

/// The receiving end of a libzmq socket monitor.
pub(crate) struct Monitor {
    socket: AsyncSocket,
    /// Whether the last look found no event and the socket has not signalled since: the
    /// message loop then waits on the signal alone, without a libzmq call per turn.
    idle: bool,
}

impl Monitor {
    /// Starts monitoring `watched`'s connections for `watch`.
    pub(crate) fn attach(
        context: &zmq::Context,
        watched: &zmq::Socket,
        watch: Watch,
    ) -> Result<Monitor, zmq::Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://experimance.monitor.{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        use zmq::SocketEvent as E;
        let failures = E::HANDSHAKE_FAILED_NO_DETAIL as i32
            | E::HANDSHAKE_FAILED_PROTOCOL as i32
            | E::HANDSHAKE_FAILED_AUTH as i32;
        let events = match watch {
            Watch::Mending => {
                E::DISCONNECTED as i32
                    | E::HANDSHAKE_SUCCEEDED as i32
                    | E::CONNECT_RETRIED as i32
                    | failures
            }
            Watch::Peers => {
                E::ACCEPTED as i32 | E::CONNECTED as i32 | E::DISCONNECTED as i32 | failures
            }
            Watch::Handshakes => failures,
        };
        watched.monitor(&endpoint, events)?;
        let socket = context.socket(zmq::PAIR)?;
        socket.set_linger(0)?;
        // libzmq sends monitor events blocking, from its I/O thread: a full pipe would stall
        // every socket of the context. Unbounded here; the service reads events as they come.
        socket.set_rcvhwm(0)?;
        socket.connect(&endpoint)?;
        Ok(Monitor {
            socket: AsyncSocket::wrap(socket, endpoint)?,
            idle: false,
        })
    }

    /// A second registration of the monitor socket's descriptor, for a task that must learn
    /// of events without holding the monitor (`None` if it cannot be made).
    pub(crate) fn readiness(&self) -> Option<std::io::Result<crate::socket::Readiness>> {
        self.socket.readiness()
    }

    /// The next connection event, waiting for it.
    pub(crate) async fn next(&mut self) -> Result<Connection, zmq::Error> {
        loop {
            if !self.idle {
                match self.try_next()? {
                    Some(event) => return Ok(event),
                    None => self.idle = true,
                }
            }
            self.socket.changed().await?;
            self.idle = false;
        }
    }

    /// The next connection event if one is queued.
    pub(crate) fn try_next(&mut self) -> Result<Option<Connection>, zmq::Error> {
        let mut frame = zmq::Message::new();
        loop {
            if !self.socket.try_recv(&mut frame)? {
                return Ok(None);
            }
            // Two frames: the event (u16) and its value (u32), then the endpoint.
            let head: &[u8] = &frame;
            let event = head.get(..6).map(|h| {
                let kind = u16::from_ne_bytes([h[0], h[1]]);
                let value = u32::from_ne_bytes([h[2], h[3], h[4], h[5]]);
                (kind, value as RawFd)
            });
            let mut endpoint = String::new();
            while frame.get_more() && self.socket.try_recv(&mut frame)? {
                endpoint = String::from_utf8_lossy(&frame).into_owned();
            }
            use zmq::SocketEvent as E;
            let connection = match event {
                Some((k, fd)) if k == E::ACCEPTED as u16 || k == E::CONNECTED as u16 => {
                    Connection::Opened(fd)
                }
                Some((k, _)) if k == E::HANDSHAKE_SUCCEEDED as u16 => Connection::Up { endpoint },
                Some((k, _)) if k == E::CONNECT_RETRIED as u16 => Connection::Retrying { endpoint },
                Some((k, fd)) if k == E::DISCONNECTED as u16 => Connection::Lost { fd, endpoint },
                Some((k, _)) if k == E::HANDSHAKE_FAILED_NO_DETAIL as u16 => {
                    Connection::HandshakeFailed {
                        endpoint,
                        reason: "the peer closed the connection during the handshake",
                        refused: false,
                    }
                }
                Some((k, _)) if k == E::HANDSHAKE_FAILED_PROTOCOL as u16 => {
                    Connection::HandshakeFailed {
                        endpoint,
                        reason: "the peer broke the handshake protocol",
                        refused: false,
                    }
                }
                Some((k, _)) if k == E::HANDSHAKE_FAILED_AUTH as u16 => {
                    Connection::HandshakeFailed {
                        endpoint,
                        reason: "the credentials were refused",
                        refused: true,
                    }
                }
                _ => continue,
            };
            return Ok(Some(connection));
        }
    }
}

/// Logs a failed handshake (rate-limited with the other connection events): what libzmq
/// says, and, with CURVE, what to check. On a bound socket, a refusal is the ZAP handler's,
/// which has logged and counted it; without CURVE, a peer's failed handshake is its affair.
pub(crate) fn report_handshake(
    core: &crate::core::Core,
    socket: crate::Role,
    failed: (&str, &'static str, bool),
    curve: bool,
    bound: bool,
) {
    let (endpoint, reason, refused) = failed;
    if bound && (refused || !curve) {
        return;
    }
    if !core.throttles.connection.allow() {
        return;
    }
    let endpoint = crate::Untrusted::str(endpoint);
    match (curve, bound) {
        (true, false) => tracing::warn!(
            %socket,
            %endpoint,
            reason,
            "CURVE handshake failed: is `curve_server_key` the public key of the service at this \
             address, and does it allow this service's public key (`curve_allow`)?"
        ),
        (true, true) => tracing::warn!(
            %socket,
            %endpoint,
            reason,
            "a peer failed the CURVE handshake: it may not use this service's public key as its \
             server key, or not speak CURVE"
        ),
        (false, _) => tracing::warn!(%socket, %endpoint, reason, "handshake failed"),
    }
}
