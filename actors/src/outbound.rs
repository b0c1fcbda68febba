//! The per-connection send queue and the writer that drains it.
//!
//! Every delivery to a client goes through [`Outbound::send`], which never blocks and never drops silently:
//! the queue is bounded in bytes, and a connection whose queue would overflow is closed with
//! "SendQ exceeded", like every ircd does. The writer ([`WriterHandle::poll_write`]) hands
//! everything queued to the socket in one vectored write, straight from the queued lines: it
//! copies nothing and keeps no buffer of its own, so an idle connection holds no output memory.
//!
//! Wake-ups are batched. Inside a [`WakeBatch`] (a connection handling a run of lines), a writer
//! that a line was queued for is woken once, when the batch ends, instead of at the first line:
//! it then writes everything the batch queued for it with one system call, as an event-loop
//! ircd does at the end of a loop iteration. A plain TCP connection whose writer is idle is not
//! even woken: the batch's thread writes its lines to the socket itself
//! ([`WriterHandle::attach_socket`]), and wakes the writer only for what the socket did not take.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::reactor::send_vectored;

/// Most lines handed to one vectored write. Lines are short, so this is tens of kilobytes, and
/// the array of slices lives on the stack only while a write is being made.
const MAX_SLICES: usize = 256;

/// Most lines gathered into a short array of slices instead of the full one. A write usually
/// carries one or two lines (a channel message reaching each member on its own), and filling
/// all [`MAX_SLICES`] slots (4 KiB) for them was most of the direct write's own time (`perf
/// annotate` of `WakeBatch`'s drop in the `channels` scenario: the array's stores were about
/// 60 % of its samples).
const FEW_SLICES: usize = 4;

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
    /// Lines not yet taken by the writer.
    lines: VecDeque<Bytes>,
    /// Bytes in `lines`: at most the limit, which is below 4 GiB (`u32`, like `socket`, keeps
    /// every connection's queue, with its `Arc` counts, within a 128-byte allocation).
    bytes: u32,
    /// Set once the queue is closed. Boxed: every connection has a queue, only a closing one
    /// needs this.
    closed: Option<Box<Closing>>,
    /// The writer, parked until a line is queued or the queue is closed.
    waker: Option<Waker>,
    /// The connection's plain TCP socket, which an idle writer's lines may be written to from
    /// the thread that queued them, under this lock ([`WriterHandle::attach_socket`]). Taken
    /// away (under this lock) before the socket is closed. [`NO_SOCKET`] when there is none.
    socket: RawFd,
}

/// [`Queue::socket`] of a queue without a plain TCP socket.
const NO_SOCKET: RawFd = -1;

impl Queue {
    /// The socket an idle writer's lines may be written to directly, if any.
    fn socket(&self) -> Option<RawFd> {
        (self.socket != NO_SOCKET).then_some(self.socket)
    }
}

/// Why and how a queue was closed.
struct Closing {
    reason: CloseReason,
    /// The last line the writer sends before it shuts the socket (an `ERROR`), until taken.
    farewell: Option<Bytes>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Set with `Queue::closed`, for a check without the lock.
    closed: AtomicBool,
    /// Bytes the writer has taken from the queue and not written yet: they count against the
    /// limit too. Set under the queue's lock, lowered without it after each write.
    in_flight: AtomicUsize,
    limit: usize,
    /// When the connection's task wants to be woken next, in the units of its
    /// [`crate::deadlines::Deadlines`] ([`NO_WAKE`]: never; [`WOKEN`]: it was due and woken).
    wake_at: AtomicU64,
}

impl Shared {
    /// Write the queued lines to the socket from this thread if the writer is idle (nothing in
    /// flight, the queue open); park the writer again with `waker` if the socket took them all,
    /// else wake it to write the rest (or meet the error) itself.
    fn write_directly_or_wake(&self, waker: Waker) {
        let mut q = self.queue.lock();
        let idle = q.closed.is_none() && self.in_flight.load(Ordering::Acquire) == 0;
        if let (true, Some(socket)) = (idle, q.socket()) {
            while !q.lines.is_empty() {
                match write_lines(socket, &q.lines) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        // `n` is at most the bytes queued, which fit.
                        q.bytes -= n as u32;
                        consume(&mut q.lines, n);
                    }
                }
            }
            if q.lines.is_empty() {
                q.lines = VecDeque::new();
                if q.waker.is_none() {
                    q.waker = Some(waker);
                }
                return;
            }
        }
        drop(q);
        waker.wake();
    }
}

/// One non-blocking vectored write of the first lines of `lines` to `socket`, without SIGPIPE.
/// The caller holds the queue's lock, under which `socket` is an open descriptor: it is taken
/// out of the queue, under the same lock, before the socket is closed (`WriterHandle`'s drop).
fn write_lines(socket: RawFd, lines: &VecDeque<Bytes>) -> io::Result<usize> {
    with_slices(lines, |slices| send_vectored(socket, slices))
}

/// Calls `write` with slices of the first lines of `lines`, at most [`MAX_SLICES`] of them, in
/// an array on the stack no longer than it needs to be ([`FEW_SLICES`] or [`MAX_SLICES`]).
fn with_slices<R>(lines: &VecDeque<Bytes>, write: impl FnOnce(&[IoSlice<'_>]) -> R) -> R {
    if lines.len() <= FEW_SLICES {
        let mut slices = [IoSlice::new(&[]); FEW_SLICES];
        let count = gather(lines, &mut slices);
        write(&slices[..count])
    } else {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = gather(lines, &mut slices);
        write(&slices[..count])
    }
}

/// Point `slices` at the first lines of `lines`, as many as fit; returns how many.
fn gather<'a>(lines: &'a VecDeque<Bytes>, slices: &mut [IoSlice<'a>]) -> usize {
    let mut count = 0;
    for (slot, line) in slices.iter_mut().zip(lines) {
        *slot = IoSlice::new(line);
        count += 1;
    }
    count
}

/// Drop `n` written bytes from the front of `lines`.
fn consume(lines: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = lines.front_mut() else {
            return;
        };
        if n < front.len() {
            front.advance(n);
            return;
        }
        n -= front.len();
        lines.pop_front();
    }
}

/// [`Shared::wake_at`] of a connection that wants no wake-up.
const NO_WAKE: u64 = u64::MAX;
/// [`Shared::wake_at`] of a connection woken because its deadline passed.
const WOKEN: u64 = 0;

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
    /// Not queued: this line would have overflowed the send queue, so the connection is now
    /// closing with [`CloseReason::SendQExceeded`]. Returned once per connection.
    Overflowed,
    /// Not queued: the connection was closed already.
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
                waker: None,
                socket: NO_SOCKET,
            }),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            limit: limit_bytes.min(u32::MAX as usize),
            wake_at: AtomicU64::new(NO_WAKE),
        });
        (
            Outbound {
                shared: shared.clone(),
            },
            WriterHandle {
                shared,
                writing: VecDeque::new(),
                finished: false,
                broken: false,
            },
        )
    }

    /// Queue one serialised line. Never blocks. On overflow the connection is closed with
    /// [`CloseReason::SendQExceeded`] and everything still queued is discarded.
    pub fn send(&self, line: Bytes) -> Sent {
        if line.is_empty() {
            // Nothing to write; a writer handed only empty slices would see a zero-byte write.
            return if self.is_closed() {
                Sent::Dropped
            } else {
                Sent::Queued
            };
        }
        let (sent, waker, direct) = {
            let mut q = self.shared.queue.lock();
            if q.closed.is_some() {
                return Sent::Dropped;
            }
            let in_flight = self.shared.in_flight.load(Ordering::Acquire);
            if q.bytes as usize + in_flight + line.len() > self.shared.limit {
                q.lines.clear();
                q.bytes = 0;
                q.closed = Some(Box::new(Closing {
                    reason: CloseReason::SendQExceeded,
                    farewell: Some(Bytes::from_static(
                        b"ERROR :Closing link (SendQ exceeded)\r\n",
                    )),
                }));
                self.shared.closed.store(true, Ordering::Release);
                (Sent::Overflowed, q.waker.take(), false)
            } else {
                // Within the limit, which fits.
                q.bytes += line.len() as u32;
                q.lines.push_back(line);
                (Sent::Queued, q.waker.take(), q.socket().is_some())
            }
        };
        match waker {
            Some(waker) if direct => defer(Deferred::WriteOrWake(self.shared.clone(), waker)),
            Some(waker) => defer(Deferred::Wake(waker)),
            None => {}
        }
        sent
    }

    /// Close the connection after what is queued has been written, ending with `ERROR :<text>`.
    /// The first close wins; later calls are ignored.
    pub fn close(&self, reason: CloseReason, error_text: &str) {
        let waker = {
            let mut q = self.shared.queue.lock();
            if q.closed.is_some() {
                return;
            }
            q.closed = Some(Box::new(Closing {
                reason,
                farewell: Some(Bytes::from(format!("ERROR :{error_text}\r\n"))),
            }));
            self.shared.closed.store(true, Ordering::Release);
            q.waker.take()
        };
        if let Some(waker) = waker {
            defer(Deferred::Wake(waker));
        }
    }

    /// Why the connection was closed, once it has been.
    pub fn close_reason(&self) -> Option<CloseReason> {
        let q = self.shared.queue.lock();
        q.closed.as_ref().map(|closing| closing.reason.clone())
    }

    /// Whether the connection has been closed (by overflow, KILL, or the connection itself).
    /// The connection's writer is woken when that happens.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Wake the writer's task once `wake_at` (at least 1) has passed: see
    /// [`crate::deadlines`], which calls [`Outbound::wake_if_due`].
    pub(crate) fn set_wake_at(&self, wake_at: u64) {
        self.shared.wake_at.store(wake_at.max(1), Ordering::Release);
    }

    /// Whether the writer's task was woken because the time set with [`Outbound::set_wake_at`]
    /// passed (it stays so until a new time is set).
    pub(crate) fn woken(&self) -> bool {
        self.shared.wake_at.load(Ordering::Acquire) == WOKEN
    }

    /// Wake the writer's task if the time it set is at or before `now`; returns whether it did.
    /// Without a waker in the queue (the task is running, or a batch took the waker to write
    /// this queue's lines and will park the writer again) nothing is marked: the next sweep
    /// tries again, so the deadline is not lost.
    pub(crate) fn wake_if_due(&self, now: u64) -> bool {
        let wake_at = self.shared.wake_at.load(Ordering::Acquire);
        if wake_at == WOKEN || wake_at > now {
            return false;
        }
        let waker = {
            let mut q = self.shared.queue.lock();
            if q.waker.is_none() {
                return false;
            }
            // A time set meanwhile is newer than the one that was due: leave it.
            if self
                .shared
                .wake_at
                .compare_exchange(wake_at, WOKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return false;
            }
            q.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Bytes waiting to be written, including those the writer is writing.
    pub fn queued_bytes(&self) -> usize {
        let q = self.shared.queue.lock();
        q.bytes as usize + self.shared.in_flight.load(Ordering::Acquire)
    }
}

/// The draining side of an [`Outbound`], owned by the connection's task.
pub struct WriterHandle {
    shared: Arc<Shared>,
    /// Lines taken from the queue and not completely written yet (the first may be partly written).
    writing: VecDeque<Bytes>,
    /// The farewell was taken: once `writing` is empty, the output is complete.
    finished: bool,
    /// A write failed: the client can receive nothing more, so output is discarded.
    broken: bool,
}

fn set_waker(q: &mut Queue, cx: &Context<'_>) {
    if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        q.waker = Some(cx.waker().clone());
    }
}

impl WriterHandle {
    /// Write what is queued to `socket`. Pending while the queue is empty or the socket is full;
    /// the task is woken when a line is queued, when the queue is closed, or when the socket
    /// can take more. Ready once the queue was closed and everything queued before, then the
    /// farewell, was written. If a write fails, the client can receive nothing more: queued
    /// output is discarded from then on, and Ready comes as soon as the queue is closed.
    /// An idle writer holds no buffer: the lines' memory is released as soon as they are written.
    pub fn poll_write<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        mut socket: Pin<&mut W>,
    ) -> Poll<()> {
        loop {
            if self.writing.is_empty() {
                if self.finished {
                    return Poll::Ready(());
                }
                match self.take_lines(cx) {
                    None => continue,
                    Some(Poll::Pending) if !self.broken => {
                        // Idle: push out what the socket itself may still buffer (a TLS
                        // session's records, when the socket was full at the last write).
                        match socket.as_mut().poll_flush(cx) {
                            Poll::Ready(Err(err)) => self.break_off(err),
                            _ => return Poll::Pending,
                        }
                    }
                    Some(parked) => return parked,
                }
                continue;
            }
            let written = with_slices(&self.writing, |slices| {
                socket.as_mut().poll_write_vectored(cx, slices)
            });
            match written {
                Poll::Ready(Ok(0)) => self.break_off(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => self.advance(n),
                Poll::Ready(Err(err)) => self.break_off(err),
                Poll::Pending => {
                    // The socket is full: the task must still be wakeable by a closed queue
                    // or a deadline, so the queue keeps its waker (a line queued meanwhile
                    // wakes it once, for nothing: rare, the socket was full).
                    self.keep_waker(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    /// With nothing being written: move the queued lines over, or take the farewell, or park.
    /// Returns the poll result when parked or done, None when there is something to write.
    fn take_lines(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        let mut q = self.shared.queue.lock();
        if self.broken {
            q.lines.clear();
            q.bytes = 0;
        }
        if !q.lines.is_empty() {
            std::mem::swap(&mut q.lines, &mut self.writing);
            self.shared
                .in_flight
                .store(q.bytes as usize, Ordering::Release);
            q.bytes = 0;
            return None;
        }
        if let Some(closing) = q.closed.as_mut() {
            self.finished = true;
            match closing.farewell.take() {
                Some(line) if !self.broken => self.writing.push_back(line),
                _ => return Some(Poll::Ready(())),
            }
            return None;
        }
        // Idle: give both queues' memory back and wait for the next line.
        q.lines = VecDeque::new();
        self.writing = VecDeque::new();
        set_waker(&mut q, cx);
        Some(Poll::Pending)
    }

    fn keep_waker(&self, cx: &Context<'_>) {
        set_waker(&mut self.shared.queue.lock(), cx);
    }

    /// Drop `n` written bytes from the front of `writing`.
    fn advance(&mut self, n: usize) {
        if !self.finished {
            self.shared.in_flight.fetch_sub(n, Ordering::Release);
        }
        consume(&mut self.writing, n);
    }

    /// Let lines queued while this writer is idle be written to `socket` straight from the
    /// thread that queued them, at the end of its [`WakeBatch`], instead of waking this writer:
    /// for a plain TCP socket, the one this writer writes to.
    ///
    /// # Safety
    ///
    /// `socket` must stay open for as long as this writer exists: drop the writer before the
    /// socket (its drop takes the socket out of the queue, under the queue's lock).
    pub unsafe fn attach_socket(&mut self, socket: RawFd) {
        self.shared.queue.lock().socket = socket;
    }

    /// After a failed write: nothing more can reach the client.
    fn break_off(&mut self, err: io::Error) {
        tracing::debug!(%err, "write to client failed; discarding its output");
        self.broken = true;
        self.writing = VecDeque::new();
        self.shared.in_flight.store(0, Ordering::Release);
    }

    /// Write queued lines until the queue is closed and drained, then send the farewell line and
    /// shut the socket down: the writer as a task of its own, for a socket that is not also read.
    pub async fn run<W: AsyncWrite + Unpin>(mut self, mut socket: W) -> io::Result<()> {
        poll_fn(|cx| self.poll_write(cx, Pin::new(&mut socket))).await;
        socket.flush().await?;
        socket.shutdown().await
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.shared.queue.lock().socket = NO_SOCKET;
    }
}

/// A writer to wake at the end of the batch, or whose lines to write first.
enum Deferred {
    Wake(Waker),
    WriteOrWake(Arc<Shared>, Waker),
}

thread_local! {
    /// Writers held back by the [`WakeBatch`] open on this thread, if one is.
    static DEFERRED: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
    /// Work to run when the [`WakeBatch`] open on this thread ends.
    static AT_END: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` when the batch open on this thread ends, or now if none is open: for what is
/// cheaper done once per batch than once per line (shipping the batch's ops to peers in one
/// frame). It runs before the batch's writers are woken.
pub fn at_batch_end(work: impl FnOnce() + 'static) {
    let open = DEFERRED.with(|deferred| deferred.borrow().is_some());
    if open {
        AT_END.with(|at_end| at_end.borrow_mut().push(Box::new(work)));
    } else {
        work();
    }
}

/// Hold a writer back until the batch open on this thread ends; without a batch, wake it now
/// (lines queued one at a time are better written by the writer, once it runs, than each with
/// a system call of its own).
fn defer(deferred: Deferred) {
    let now = DEFERRED.with(|list| match list.borrow_mut().as_mut() {
        Some(list) => {
            list.push(deferred);
            None
        }
        None => Some(deferred),
    });
    if let Some(Deferred::Wake(waker) | Deferred::WriteOrWake(_, waker)) = now {
        waker.wake();
    }
}

/// While alive, writers that lines are queued for are woken at its end instead of at once, so
/// each writes the whole batch's output for its connection with one system call. Bound to the
/// thread that opened it (it cannot be held across an `.await`); nested batches join the
/// outermost one.
pub struct WakeBatch {
    outermost: bool,
    _not_send: PhantomData<*const ()>,
}

impl WakeBatch {
    /// Start deferring wake-ups on this thread.
    pub fn begin() -> WakeBatch {
        let outermost = DEFERRED.with(|deferred| {
            let mut deferred = deferred.borrow_mut();
            if deferred.is_some() {
                false
            } else {
                *deferred = Some(Vec::new());
                true
            }
        });
        WakeBatch {
            outermost,
            _not_send: PhantomData,
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        // Work may queue lines (and register more work): the batch stays open until it is done,
        // and work runs in the order it was registered.
        loop {
            let work = AT_END.with(|at_end| std::mem::take(&mut *at_end.borrow_mut()));
            if work.is_empty() {
                break;
            }
            for work in work {
                work();
            }
        }
        let deferred = DEFERRED.with(|deferred| deferred.borrow_mut().take());
        for deferred in deferred.into_iter().flatten() {
            match deferred {
                Deferred::Wake(waker) => waker.wake(),
                Deferred::WriteOrWake(shared, waker) => shared.write_directly_or_wake(waker),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;
    use tokio::io::AsyncReadExt;

    /// Every connection holds a queue for as long as it is connected: its shared part, with the
    /// reference counts of its `Arc`, takes at most 120 bytes, one 128-byte chunk of glibc's
    /// allocator (which adds 8 bytes and rounds up to 16), not 144 (state only a closing
    /// connection needs stays behind a box).
    #[test]
    fn a_queue_stays_small() {
        let shared = std::mem::size_of::<Shared>() + 2 * std::mem::size_of::<usize>();
        assert!(shared <= 120, "a queue takes {shared} bytes");
    }

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
        assert_eq!(out.send(Bytes::from_static(b"67890\r\n")), Sent::Overflowed);
        assert_eq!(out.close_reason(), Some(CloseReason::SendQExceeded));
        assert!(out.is_closed());
        assert_eq!(out.send(Bytes::from_static(b"x\r\n")), Sent::Dropped);
    }

    /// A socket that takes at most `step` bytes per write and records what it got.
    struct Trickle {
        got: Vec<u8>,
        step: usize,
        writes: usize,
    }

    impl Trickle {
        fn new(step: usize) -> Trickle {
            Trickle {
                got: Vec::new(),
                step,
                writes: 0,
            }
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.got.extend_from_slice(&buf[..n]);
            self.writes += 1;
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.step - n);
                self.got.extend_from_slice(&buf[..take]);
                n += take;
                if n == self.step {
                    break;
                }
            }
            self.writes += 1;
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker that counts how often it was woken.
    fn counting_waker() -> (Arc<CountWakes>, Waker) {
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    #[test]
    fn partial_vectored_writes_resume_mid_line_and_count_in_flight_bytes() {
        let (out, mut writer) = Outbound::new(100);
        let (counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut socket = Trickle::new(4);
        assert!(writer
            .poll_write(&mut cx, Pin::new(&mut socket))
            .is_pending());
        out.send(Bytes::from_static(b"abcdef\r\n"));
        out.send(Bytes::from_static(b"gh\r\n"));
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "woken once, not per line"
        );
        assert_eq!(out.queued_bytes(), 12);
        assert!(writer
            .poll_write(&mut cx, Pin::new(&mut socket))
            .is_pending());
        assert_eq!(socket.got, b"abcdef\r\ngh\r\n");
        assert_eq!(socket.writes, 3);
        assert_eq!(out.queued_bytes(), 0);
    }

    #[test]
    fn bytes_being_written_count_against_the_limit() {
        let (out, mut writer) = Outbound::new(10);
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        /// A socket that is always full.
        struct Full;
        impl AsyncWrite for Full {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Pending
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        assert_eq!(out.send(Bytes::from_static(b"12345\r\n")), Sent::Queued);
        assert!(writer.poll_write(&mut cx, Pin::new(&mut Full)).is_pending());
        assert_eq!(
            out.queued_bytes(),
            7,
            "taken by the writer, still unwritten"
        );
        assert_eq!(out.send(Bytes::from_static(b"678\r\n")), Sent::Overflowed);
    }

    #[test]
    fn a_batch_wakes_each_writer_once_when_it_ends() {
        let (out, mut writer) = Outbound::new(100);
        let (counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut socket = Trickle::new(100);
        assert!(writer
            .poll_write(&mut cx, Pin::new(&mut socket))
            .is_pending());
        {
            let _batch = WakeBatch::begin();
            let inner = WakeBatch::begin();
            out.send(Bytes::from_static(b"one\r\n"));
            out.send(Bytes::from_static(b"two\r\n"));
            drop(inner);
            assert_eq!(
                counter.0.load(Ordering::SeqCst),
                0,
                "held while the batch is open"
            );
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(writer
            .poll_write(&mut cx, Pin::new(&mut socket))
            .is_pending());
        assert_eq!(socket.got, b"one\r\ntwo\r\n");
        assert_eq!(socket.writes, 1, "one write for the whole batch");
    }

    #[test]
    fn work_for_the_batch_end_runs_then_in_order_or_at_once_without_a_batch() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let order = Rc::new(RefCell::new(Vec::new()));
        let log = |n: u32| {
            let order = order.clone();
            move || order.borrow_mut().push(n)
        };
        at_batch_end(log(0));
        assert_eq!(*order.borrow(), [0], "no batch: at once");
        {
            let _batch = WakeBatch::begin();
            at_batch_end(log(1));
            let inner = WakeBatch::begin();
            let again = log(3);
            let order_in = order.clone();
            at_batch_end(move || {
                order_in.borrow_mut().push(2);
                at_batch_end(again);
            });
            drop(inner);
            assert_eq!(*order.borrow(), [0], "held until the outermost batch ends");
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
    }

    #[test]
    fn after_a_failed_write_output_is_discarded_until_closed() {
        let (out, mut writer) = Outbound::new(100);
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        /// A socket whose peer is gone.
        struct Gone;
        impl AsyncWrite for Gone {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        out.send(Bytes::from_static(b"one\r\n"));
        assert!(writer.poll_write(&mut cx, Pin::new(&mut Gone)).is_pending());
        assert_eq!(
            out.queued_bytes(),
            0,
            "the line that could not be written is dropped"
        );
        assert_eq!(out.send(Bytes::from_static(b"two\r\n")), Sent::Queued);
        assert!(writer.poll_write(&mut cx, Pin::new(&mut Gone)).is_pending());
        assert_eq!(out.queued_bytes(), 0);
        out.close(CloseReason::Server("gone".into()), "gone");
        assert!(writer.poll_write(&mut cx, Pin::new(&mut Gone)).is_ready());
    }

    /// A parked writer attached to one end of a socket pair, and the other end.
    fn attached_pair(
        limit: usize,
    ) -> (
        Outbound,
        WriterHandle,
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
        Arc<CountWakes>,
        Waker,
    ) {
        use std::os::fd::AsRawFd;
        let (out, mut writer) = Outbound::new(limit);
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        // SAFETY: every test drops the writer before `ours`.
        unsafe { writer.attach_socket(ours.as_raw_fd()) };
        let (counter, waker) = counting_waker();
        let parked = writer.poll_write(
            &mut Context::from_waker(&waker),
            Pin::new(&mut tokio::io::sink()),
        );
        assert!(parked.is_pending(), "an idle writer parks");
        (out, writer, ours, theirs, counter, waker)
    }

    #[test]
    fn a_batch_writes_an_idle_writers_lines_itself_without_waking_it() {
        use std::io::Read;
        let (out, writer, ours, mut theirs, counter, _waker) = attached_pair(1 << 16);
        {
            let _batch = WakeBatch::begin();
            out.send(Bytes::from_static(b"one\r\n"));
            out.send(Bytes::from_static(b"two\r\n"));
        }
        let mut got = [0u8; 10];
        theirs.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"one\r\ntwo\r\n");
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "the writer was not woken"
        );
        assert_eq!(out.queued_bytes(), 0);

        // Still parked: a line queued outside a batch wakes it, to be written by the writer.
        out.send(Bytes::from_static(b"three\r\n"));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(out.queued_bytes(), 7);
        drop(writer);
        assert!(
            out.shared.queue.lock().socket().is_none(),
            "detached with the writer"
        );
        drop(ours);
    }

    #[tokio::test]
    async fn what_a_full_socket_does_not_take_the_writer_writes_after_it_in_order() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        const LINES: usize = 20_000;
        let (out, mut writer, ours, mut theirs, counter, waker) = attached_pair(4 << 20);
        let expected: Vec<u8> = (0..LINES)
            .flat_map(|i| format!("PRIVMSG #c :line {i:05}\r\n").into_bytes())
            .collect();
        {
            let _batch = WakeBatch::begin();
            for i in 0..LINES {
                out.send(Bytes::from(format!("PRIVMSG #c :line {i:05}\r\n")));
            }
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken for the rest");
        assert!(out.queued_bytes() > 0, "the socket took part of the batch");
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).expect("read");
            got
        });
        out.close(CloseReason::Server("done".into()), "done");
        let clone = ours.try_clone().expect("clone");
        clone.set_nonblocking(true).expect("nonblocking");
        let mut socket = tokio::net::UnixStream::from_std(clone).expect("register");
        assert_ne!(socket.as_raw_fd(), ours.as_raw_fd());
        poll_fn(|cx| writer.poll_write(cx, Pin::new(&mut socket))).await;
        drop((writer, socket, ours, waker));
        let got = reader.join().expect("reader");
        let farewell = b"ERROR :done\r\n";
        assert_eq!(got.len(), expected.len() + farewell.len());
        assert!(
            got[..expected.len()] == expected[..],
            "every line, once, in order"
        );
        assert_eq!(&got[expected.len()..], farewell);
    }

    /// A batch takes an idle writer's waker to write its lines and parks it again; a deadline
    /// that passes meanwhile must still wake it afterwards, not be marked and lost.
    #[test]
    fn a_deadline_passing_while_a_batch_holds_the_waker_wakes_the_writer_later() {
        let (out, writer, ours, _theirs, counter, _waker) = attached_pair(1 << 16);
        out.set_wake_at(5);
        {
            let _batch = WakeBatch::begin();
            out.send(Bytes::from_static(b"one\r\n"));
            assert!(
                !out.wake_if_due(10),
                "no waker to wake while the batch holds it"
            );
            assert!(!out.woken());
        }
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "parked again by the batch"
        );
        assert!(out.wake_if_due(10), "the next sweep wakes it");
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(out.woken());
        drop(writer);
        drop(ours);
    }
}
