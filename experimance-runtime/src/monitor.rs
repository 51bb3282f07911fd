//! Watching a connecting socket's connection, so the service can mend what libzmq leaves
//! broken.
//!
//! libzmq reconnects a connection that fails, but not one it dropped for a protocol error,
//! such as a peer sending a frame over `max_message_size`: the socket would then stay deaf
//! for good. So a connecting SUB or PULL is watched through a libzmq socket monitor, and
//! every lost connection is connected again by the service itself.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::socket::AsyncSocket;

/// What the monitor reports about the watched socket's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// An established connection was lost.
    Lost,
    /// A connection completed its handshake.
    Up,
}

/// The receiving end of a libzmq socket monitor.
pub(crate) struct Monitor {
    socket: AsyncSocket,
}

impl Monitor {
    /// Starts monitoring `watched`'s connections (lost ones and completed handshakes).
    pub(crate) fn attach(
        context: &zmq::Context,
        watched: &zmq::Socket,
    ) -> Result<Monitor, zmq::Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://experimance.monitor.{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let events = zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32;
        watched.monitor(&endpoint, events)?;
        let socket = context.socket(zmq::PAIR)?;
        socket.set_linger(0)?;
        socket.connect(&endpoint)?;
        Ok(Monitor {
            socket: AsyncSocket::wrap(socket, endpoint)?,
        })
    }

    /// The next connection event; other events are skipped.
    pub(crate) async fn next(&mut self) -> Result<Connection, zmq::Error> {
        loop {
            let parts = self.socket.recv_multipart().await?;
            let Some(event) = parts.first().and_then(|p| p.get(..2)) else {
                continue;
            };
            let event = u16::from_ne_bytes([event[0], event[1]]);
            if event == zmq::SocketEvent::DISCONNECTED as u16 {
                return Ok(Connection::Lost);
            }
            if event == zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16 {
                return Ok(Connection::Up);
            }
        }
    }
}
