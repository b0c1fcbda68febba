//! The per-connection send queue and the writer task that drains it.
//!
//! Every delivery to a client goes through [`Outbound::send`], which never blocks and never drops silently:
//! the queue is bounded in bytes, and a connection whose queue would overflow is closed with
//! "SendQ exceeded", like every ircd does. The writer task coalesces whatever is queued into one write.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A write buffer larger than this is released after use instead of kept, so a burst (a long
/// NAMES, a history batch) does not pin memory on a connection that then goes idle.
const IDLE_BUFFER_LIMIT: usize = 4096;

/// Why a connection's output was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The send queue overflowed.
    SendQExceeded,
    /// The server ended the connection; the text goes into the final `ERROR` line and the quit reason.
    Server(String),
}

impl CloseReason {
    /// The quit reason other users see.
    pub fn quit_reason(&self) -> String {
        match self {
            CloseReason::SendQExceeded => "SendQ exceeded".to_owned(),
            CloseReason::Server(text) => text.clone(),
        }
    }
}

struct Queue {
    lines: VecDeque<Bytes>,
    bytes: usize,
    closed: Option<CloseReason>,
    /// The last line the writer sends before it shuts the socket (an `ERROR`), if any.
    farewell: Option<Bytes>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    closed: CancellationToken,
    limit: usize,
}

/// Handle used to enqueue lines for one client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    shared: Arc<Shared>,
}

/// Result of [`Outbound::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued for writing.
    Queued,
    /// Not queued: the connection is closed, or this line made it overflow and it is now closing.
    Dropped,
}

impl Outbound {
    /// A queue holding at most `limit_bytes` of unwritten output, and the handle its writer drains.
    pub fn new(limit_bytes: usize) -> (Outbound, WriterHandle) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                lines: VecDeque::new(),
                bytes: 0,
                closed: None,
                farewell: None,
            }),
            wake: Notify::new(),
            closed: CancellationToken::new(),
            limit: limit_bytes,
        });
        (
            Outbound {
                shared: shared.clone(),
            },
            WriterHandle { shared },
        )
    }

    /// Queue one serialised line. Never blocks. On overflow the connection is closed with
    /// [`CloseReason::SendQExceeded`] and everything still queued is discarded.
    pub fn send(&self, line: Bytes) -> Sent {
        let mut q = self.shared.queue.lock();
        if q.closed.is_some() {
            return Sent::Dropped;
        }
        if q.bytes + line.len() > self.shared.limit {
            q.lines.clear();
            q.bytes = 0;
            q.closed = Some(CloseReason::SendQExceeded);
            q.farewell = Some(Bytes::from_static(
                b"ERROR :Closing link (SendQ exceeded)\r\n",
            ));
            drop(q);
            self.shared.closed.cancel();
            self.shared.wake.notify_one();
            return Sent::Dropped;
        }
        q.bytes += line.len();
        q.lines.push_back(line);
        drop(q);
        self.shared.wake.notify_one();
        Sent::Queued
    }

    /// Close the connection after what is queued has been written, ending with `ERROR :<text>`.
    /// The first close wins; later calls are ignored.
    pub fn close(&self, reason: CloseReason, error_text: &str) {
        let mut q = self.shared.queue.lock();
        if q.closed.is_some() {
            return;
        }
        q.closed = Some(reason);
        q.farewell = Some(Bytes::from(format!("ERROR :{error_text}\r\n")));
        drop(q);
        self.shared.closed.cancel();
        self.shared.wake.notify_one();
    }

    /// Why the connection was closed, once it has been.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.queue.lock().closed.clone()
    }

    /// Completes when the connection has been closed (by overflow, KILL, or the connection itself).
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queue.lock().bytes
    }
}

/// The draining side of an [`Outbound`], owned by the writer task.
pub struct WriterHandle {
    shared: Arc<Shared>,
}

impl WriterHandle {
    /// Write queued lines until the queue is closed and drained, then send the farewell line and shut the
    /// socket down. Lines queued together are written with one `write_all`.
    pub async fn run<W: AsyncWrite + Unpin>(self, mut socket: W) -> std::io::Result<()> {
        let mut buf = BytesMut::new();
        loop {
            let notified = self.shared.wake.notified();
            let farewell = {
                let mut q = self.shared.queue.lock();
                for line in q.lines.drain(..) {
                    buf.extend_from_slice(&line);
                }
                q.bytes = 0;
                if q.closed.is_some() {
                    Some(q.farewell.take())
                } else {
                    None
                }
            };
            if let Some(farewell) = farewell {
                if let Some(line) = farewell {
                    buf.extend_from_slice(&line);
                }
                if !buf.is_empty() {
                    socket.write_all(&buf).await?;
                }
                socket.flush().await?;
                return socket.shutdown().await;
            }
            if !buf.is_empty() {
                socket.write_all(&buf).await?;
                buf.clear();
                if buf.capacity() > IDLE_BUFFER_LIMIT {
                    buf = BytesMut::new();
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn writes_in_order_and_closes_with_farewell() {
        let (out, writer) = Outbound::new(1024);
        let (client, server) = tokio::io::duplex(4096);
        let task = tokio::spawn(writer.run(server));
        assert_eq!(out.send(Bytes::from_static(b"one\r\n")), Sent::Queued);
        assert_eq!(out.send(Bytes::from_static(b"two\r\n")), Sent::Queued);
        out.close(CloseReason::Server("bye".into()), "Closing link (bye)");
        task.await.unwrap().unwrap();
        let mut got = String::new();
        let mut client = client;
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "one\r\ntwo\r\nERROR :Closing link (bye)\r\n");
    }

    #[tokio::test]
    async fn overflow_closes_with_sendq_exceeded() {
        let (out, _writer) = Outbound::new(10);
        assert_eq!(out.send(Bytes::from_static(b"12345\r\n")), Sent::Queued);
        assert_eq!(out.send(Bytes::from_static(b"67890\r\n")), Sent::Dropped);
        assert_eq!(out.close_reason(), Some(CloseReason::SendQExceeded));
        assert_eq!(out.send(Bytes::from_static(b"x\r\n")), Sent::Dropped);
        out.closed().await;
    }
}
