//! In-memory sockets for [`testing`](crate::testing): channels in place of libzmq, so a
//! service runs its real loop, timers and heartbeats on tokio's (possibly paused) clock.

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

/// The service's end of an in-memory socket: frames in (SUB, PULL) or out (PUB, PUSH).
pub(crate) struct Pipe {
    incoming: Option<UnboundedReceiver<Vec<u8>>>,
    outgoing: Option<UnboundedSender<Vec<u8>>>,
    next: Option<Vec<u8>>,
    /// How many pipes the service's loop is waiting on, empty: while it is more than zero the
    /// loop is idle, with everything it was given handled.
    idle: Option<watch::Sender<usize>>,
}

impl Pipe {
    /// A receiving pipe and the sender a test injects frames with.
    pub(crate) fn inbound(idle: watch::Sender<usize>) -> (Pipe, UnboundedSender<Vec<u8>>) {
        let (tx, rx) = unbounded_channel();
        let pipe = Pipe {
            incoming: Some(rx),
            outgoing: None,
            next: None,
            idle: Some(idle),
        };
        (pipe, tx)
    }

    /// A sending pipe and the receiver a test captures frames with.
    pub(crate) fn outbound() -> (Pipe, UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = unbounded_channel();
        let pipe = Pipe {
            incoming: None,
            outgoing: Some(tx),
            next: None,
            idle: None,
        };
        (pipe, rx)
    }

    /// Waits until a frame can be received (never, for a sending pipe).
    pub(crate) async fn readable(&mut self) {
        if self.next.is_some() {
            return;
        }
        match self.incoming.as_mut() {
            Some(rx) => {
                let _waiting = rx.is_empty().then(|| Waiting::new(self.idle.as_ref()));
                match rx.recv().await {
                    Some(frame) => self.next = Some(frame),
                    None => std::future::pending().await,
                }
            }
            None => std::future::pending().await,
        }
    }

    pub(crate) fn try_recv(&mut self) -> Option<Vec<u8>> {
        self.next
            .take()
            .or_else(|| self.incoming.as_mut()?.try_recv().ok())
    }

    /// Hands a frame to the test; a test that stopped listening loses it, as a PUB would.
    pub(crate) fn send(&mut self, frame: Vec<u8>) {
        if let Some(tx) = &self.outgoing {
            let _ = tx.send(frame);
        }
    }
}

/// Counts a loop waiting on an empty pipe for as long as it waits (the future may be dropped
/// when another branch of the loop's `select!` wins).
struct Waiting<'a>(Option<&'a watch::Sender<usize>>);

impl<'a> Waiting<'a> {
    fn new(idle: Option<&'a watch::Sender<usize>>) -> Self {
        if let Some(idle) = idle {
            idle.send_modify(|n| *n += 1);
        }
        Waiting(idle)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(idle) = self.0 {
            idle.send_modify(|n| *n -= 1);
        }
    }
}
