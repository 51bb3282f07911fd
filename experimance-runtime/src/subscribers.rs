//! What the subscribers of a PUB socket may make it hold.
//!
//! libzmq keeps every subscription a subscriber sends, for as long as its connection lives,
//! in memory that grows with each one. A subscription's size is bounded by libzmq itself
//! (`max_subscription_size`, enforced while reading); their number is bounded here: the
//! service counts the subscriptions of each connection (libzmq tells which connection sent
//! one), and when the service's total passes `max_subscriptions`, it disconnects the
//! connection that sent the most. Closing a connection frees what libzmq kept for it.
//! Unsubscribing gives nothing back: a peer cannot subscribe, unsubscribe from something else
//! and stay under the budget while libzmq's memory grows.

use std::collections::HashMap;
use std::os::fd::RawFd;

/// The subscription budget of one PUB socket.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    max: usize,
    total: usize,
    connections: HashMap<RawFd, Holder>,
}

#[derive(Debug, Default)]
struct Holder {
    subscriptions: usize,
    /// The peer's address, as libzmq gives it, for logs.
    peer: String,
    /// The connection's remote address when it was opened: a disconnection checks that the
    /// descriptor is still that connection.
    address: Option<socket2::SockAddr>,
}

/// A connection that went over the budget and was disconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evicted {
    pub(crate) peer: String,
    pub(crate) subscriptions: usize,
}

impl Budget {
    /// Starts a run with at most `max` subscriptions held.
    pub(crate) fn reset(&mut self, max: usize) {
        *self = Budget {
            max,
            ..Budget::default()
        };
    }

    /// The budget: how many subscriptions the connections may hold together.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Whether a connection is open on `fd`, as far as the monitor said.
    pub(crate) fn knows(&self, fd: RawFd) -> bool {
        self.connections.contains_key(&fd)
    }

    /// A connection was opened on `fd`: whatever an earlier one on that descriptor held is gone.
    pub(crate) fn opened(&mut self, fd: RawFd) {
        self.closed(fd);
        let holder = Holder {
            address: peer_of(fd),
            ..Holder::default()
        };
        self.connections.insert(fd, holder);
    }

    /// The connection on `fd` closed; libzmq freed its subscriptions.
    pub(crate) fn closed(&mut self, fd: RawFd) {
        if let Some(holder) = self.connections.remove(&fd) {
            self.total -= holder.subscriptions;
        }
    }

    /// The connection on `fd` (from `peer`) subscribed. If the total is then over the
    /// budget, the connection holding the most is disconnected and returned. A descriptor
    /// not open as far as the monitor said (a subscription read after its connection closed)
    /// is charged nothing: libzmq freed what that connection held.
    pub(crate) fn subscribed(&mut self, fd: RawFd, peer: &str) -> Option<Evicted> {
        let holder = self.connections.get_mut(&fd)?;
        if holder.peer.is_empty() {
            holder.peer = peer.to_owned();
        }
        holder.subscriptions += 1;
        self.total += 1;
        if self.total <= self.max {
            return None;
        }
        let (&fd, _) = self
            .connections
            .iter()
            .max_by_key(|(_, holder)| holder.subscriptions)?;
        let holder = self.connections.remove(&fd)?;
        self.total -= holder.subscriptions;
        if let Some(address) = &holder.address {
            disconnect(fd, address);
        }
        Some(Evicted {
            peer: holder.peer,
            subscriptions: holder.subscriptions,
        })
    }
}

/// The remote address of the socket `fd`, if it is a connected socket.
fn peer_of(fd: RawFd) -> Option<socket2::SockAddr> {
    // SAFETY: `getpeername` writes at most `len` bytes of address into the storage that
    // `try_init` provides. Any descriptor number may be passed (a closed one fails).
    let address = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            match libc::getpeername(fd, storage.cast(), len) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        })
    };
    address.ok().map(|((), address)| address)
}

/// Dissolves the connection on `fd`, if `fd` is still the socket connected to `address`
/// (libzmq may have closed it, and the number been reused, meanwhile); libzmq then sees it
/// fail and frees everything it held for it.
fn disconnect(fd: RawFd, address: &socket2::SockAddr) {
    if peer_of(fd).as_ref() != Some(address) {
        return;
    }
    // Connecting a TCP socket to `AF_UNSPEC` dissolves its connection at once: what the
    // peer sent and libzmq has not read yet is discarded (a shutdown alone would still let
    // libzmq read it all, subscriptions included), the peer gets a reset, and libzmq's next
    // read fails. A local (ipc) socket refuses that; it is shut down instead.
    // SAFETY: `unspecified` is a valid `sockaddr` of the size passed; the calls take a
    // descriptor number and touch no other memory.
    unsafe {
        let mut unspecified: libc::sockaddr = std::mem::zeroed();
        unspecified.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        let size = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
        if libc::connect(fd, &unspecified, size) != 0 {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_biggest_holder_goes_when_the_total_passes_the_budget() {
        let mut budget = Budget::default();
        budget.reset(5);
        // Descriptors that are not open: the eviction is bookkeeping only here.
        let (a, b) = (RawFd::MAX - 1, RawFd::MAX - 2);
        budget.opened(a);
        budget.opened(b);
        assert_eq!(budget.subscribed(a, "10.0.0.1"), None);
        for _ in 0..4 {
            assert_eq!(budget.subscribed(b, "10.0.0.2"), None);
        }
        let evicted = budget.subscribed(a, "10.0.0.1").expect("over budget");
        assert_eq!(evicted.peer, "10.0.0.2");
        assert_eq!(evicted.subscriptions, 4);
        assert_eq!(budget.total, 2);
        budget.opened(a);
        assert_eq!(
            budget.total, 0,
            "a new connection on a descriptor starts afresh"
        );
    }
}
