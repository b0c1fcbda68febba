//! Socket readiness for client connections at a few dozen bytes per socket.
//!
//! A tokio `TcpStream` registers its socket with tokio's I/O driver, which keeps a 256-byte
//! record per socket (its readiness word and wakers, padded to two cache lines). An idle client
//! needs none of that: a [`ClientSocket`] is registered with one epoll instance of the node's
//! own ([`Reactor`]), edge-triggered, and shares a 56-byte `Readiness` with it instead. The epoll
//! instance is itself watched by tokio (it is readable while it holds events), and one task
//! ([`Reactor::start`]) drains it and wakes the tasks whose sockets became ready.
//!
//! No readiness is cached: a [`ClientSocket`] always tries the system call first and waits only
//! after `EAGAIN`. A counter per direction, bumped by the reactor on every event, closes the
//! window between the failed call and the registration of the waker: if it moved meanwhile, the
//! call is tried again instead of waiting for an event that already came.

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Events taken from the epoll instance per system call.
const EVENTS_PER_WAIT: usize = 256;

/// Events that let a blocked read go on (data, the peer's close, an error).
const READ_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Read events that end the stream: after one, a read never waits again (see
/// [`READ_CLOSED`]).
const CLOSING_EVENTS: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Set in the read counter, for good, by the first event that ends the stream; the counter
/// itself counts in steps of two, leaving this bit alone. A short read ([`ClientSocket`]'s
/// `drained_at`) proves the socket empty only while it is clear: the peer's close can arrive
/// with the last data, in the same event, and must still be read as the end of the stream.
const READ_CLOSED: u32 = 1;
/// Events that let a blocked write go on (room in the send buffer, a hang-up, an error).
const WRITE_EVENTS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// The epoll instance client sockets are registered with. Cheap to clone ([`Arc`]); the task
/// that drains it ends when the last clone, and with it the last registered socket, is dropped.
#[derive(Clone)]
pub struct Reactor {
    shared: Arc<Shared>,
}

struct Shared {
    epoll: OwnedFd,
    /// Held while the reactor hands out the events of one wait, and while a socket leaves the
    /// epoll instance: a socket's [`Readiness`] is freed only once no event naming it can
    /// still be in the reactor's hands.
    handing_out: Mutex<()>,
    /// Ends the reactor's task when the last [`Reactor`] is dropped.
    _stop: DropGuard,
}

/// What a registered socket shares with the reactor: the task to wake and how many events of
/// each direction came.
struct Readiness {
    reactor: Arc<Shared>,
    /// Bumped by two on every event that may let a read go on; [`READ_CLOSED`] is set in it
    /// once the stream has ended.
    reads: AtomicU32,
    /// Bumped on every event that may let a write go on.
    writes: AtomicU32,
    /// The task waiting on this socket (one task drives a socket: reads and writes both
    /// register the same waker).
    waker: AtomicWaker,
}

impl Reactor {
    /// A new epoll instance, and the task that drains it, on the current tokio runtime.
    pub fn start() -> io::Result<Reactor> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `epoll` is a fresh descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: the AsyncFd owns the duplicate, which stays open, the same descriptor, for
        // as long as the AsyncFd lives.
        let watched =
            unsafe { AsyncFd::register_with_interest(epoll.try_clone()?, Interest::READABLE) }?;
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            epoll,
            handing_out: Mutex::new(()),
            _stop: stop.clone().drop_guard(),
        });
        tokio::spawn(drain(watched, Arc::downgrade(&shared), stop));
        Ok(Reactor { shared })
    }

    /// Register a connected TCP socket (made non-blocking here) for reads and writes.
    pub fn register(&self, socket: TcpStream) -> io::Result<ClientSocket> {
        socket.set_nonblocking(true)?;
        let readiness = Arc::new(Readiness {
            reactor: self.shared.clone(),
            reads: AtomicU32::new(0),
            writes: AtomicU32::new(0),
            waker: AtomicWaker::new(),
        });
        // The epoll instance holds one reference, given back when the socket leaves it.
        let token = Arc::into_raw(readiness.clone());
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token as u64,
        };
        // SAFETY: both descriptors are open; `event` is a valid epoll_event.
        let added = unsafe {
            libc::epoll_ctl(
                self.shared.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                socket.as_raw_fd(),
                &mut event,
            )
        };
        if added < 0 {
            let err = io::Error::last_os_error();
            // SAFETY: the reference given to the epoll instance, which did not take it.
            drop(unsafe { Arc::from_raw(token) });
            return Err(err);
        }
        Ok(ClientSocket {
            socket,
            drained_at: None,
            readiness,
        })
    }
}

/// The reactor's task: whenever the epoll instance has events, take them and wake the tasks
/// of their sockets. Ends once the last [`Reactor`] handle and registered socket are gone.
async fn drain(watched: AsyncFd<OwnedFd>, shared: Weak<Shared>, stop: CancellationToken) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
    let mut wakers: Vec<Waker> = Vec::with_capacity(EVENTS_PER_WAIT);
    loop {
        let mut guard = tokio::select! {
            _ = stop.cancelled() => return,
            ready = watched.readable() => match ready {
                Ok(guard) => guard,
                Err(err) => {
                    tracing::error!(%err, "client socket reactor failed; sockets are no longer watched");
                    return;
                }
            },
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let taken = {
            let _handing_out = shared.handing_out.lock();
            let taken = take_events(&shared.epoll, &mut events);
            for event in &events[..taken] {
                // SAFETY: the token is the pointer of a Readiness whose reference the epoll
                // instance holds; it is given back only after the socket left the instance,
                // under `handing_out`, which is held here.
                let readiness = unsafe { &*(event.u64 as *const Readiness) };
                readiness.note(event.events);
                wakers.extend(readiness.waker.take());
            }
            taken
        };
        for waker in wakers.drain(..) {
            waker.wake();
        }
        if taken < EVENTS_PER_WAIT {
            guard.clear_ready();
        }
    }
}

/// Take the events waiting in `epoll` without blocking; returns how many.
fn take_events(epoll: &OwnedFd, events: &mut [libc::epoll_event]) -> usize {
    loop {
        // SAFETY: `events` is writable for its length, which fits an i32.
        let taken = unsafe {
            libc::epoll_wait(
                epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                0,
            )
        };
        match usize::try_from(taken) {
            Ok(taken) => return taken,
            Err(_) if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                tracing::warn!(err = %io::Error::last_os_error(), "epoll_wait failed");
                return 0;
            }
        }
    }
}

impl Readiness {
    fn note(&self, events: u32) {
        if events & READ_EVENTS != 0 {
            if events & CLOSING_EVENTS != 0 {
                self.reads.fetch_or(READ_CLOSED, Ordering::AcqRel);
            }
            self.reads.fetch_add(2, Ordering::AcqRel);
        }
        if events & WRITE_EVENTS != 0 {
            self.writes.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A client's TCP socket, registered with a [`Reactor`]: an `AsyncRead + AsyncWrite` stream
/// for the connection's task. 16 bytes, and a 56-byte `Readiness` (with its `Arc` counts)
/// on the heap beside it.
pub struct ClientSocket {
    socket: TcpStream,
    /// The read counter, plus one, when a read last came back short: it took everything the
    /// socket held, so until the next read event a read would only return `EAGAIN`. A client
    /// sending a line at a time would otherwise cost a second, failing `recv` per line.
    drained_at: Option<NonZeroU32>,
    readiness: Arc<Readiness>,
}

impl ClientSocket {
    /// The socket, for options and addresses.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Run `op` until it does not report `EAGAIN`; when it does, wait for the next event of
    /// the direction `events` counts.
    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        events: &AtomicU32,
        mut op: impl FnMut(RawFd) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            let seen = events.load(Ordering::Acquire);
            match op(self.socket.as_raw_fd()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                done => return Poll::Ready(done),
            }
            self.readiness.waker.register(cx.waker());
            if events.load(Ordering::Acquire) == seen {
                return Poll::Pending;
            }
        }
    }
}

impl AsRawFd for ClientSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Drop for ClientSocket {
    fn drop(&mut self) {
        let shared = &self.readiness.reactor;
        let _handing_out = shared.handing_out.lock();
        // SAFETY: both descriptors are open (the socket is closed after this drop).
        let removed = unsafe {
            libc::epoll_ctl(
                shared.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.socket.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
        if removed == 0 {
            // SAFETY: the reference the epoll instance held since `register`; no event naming
            // it can come any more, and none is being handed out (`handing_out` is held).
            drop(unsafe { Arc::from_raw(Arc::as_ptr(&self.readiness)) });
        } else {
            // Left registered (it cannot happen to an open socket): keep the reference, so an
            // event naming it stays safe to hand out.
            tracing::warn!(err = %io::Error::last_os_error(), "could not remove a client socket from the reactor");
        }
    }
}

impl AsyncRead for ClientSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let reads = &this.readiness.reads;
        let seen = reads.load(Ordering::Acquire);
        let open = seen & READ_CLOSED == 0;
        if open && this.drained_at == NonZeroU32::new(seen + 1) {
            this.readiness.waker.register(cx.waker());
            if reads.load(Ordering::Acquire) == seen {
                return Poll::Pending;
            }
        }
        this.drained_at = None;
        // SAFETY: recv only writes the bytes it reports, and those are marked filled below.
        let unfilled = unsafe { buf.unfilled_mut() };
        let wanted = unfilled.len();
        let read = ready!(this.poll_io(cx, reads, |socket| {
            // SAFETY: `unfilled` is writable for its length.
            let read = unsafe {
                libc::recv(
                    socket,
                    unfilled.as_mut_ptr().cast::<libc::c_void>(),
                    unfilled.len(),
                    0,
                )
            };
            usize::try_from(read).map_err(|_| io::Error::last_os_error())
        }))?;
        // A TCP receive takes every byte queued, up to the buffer's length; data arriving after
        // it raises a read event, which moves the counter past `seen`. Once the peer closed
        // (or the stream failed) nothing is cached, so the end is read and reported.
        if open && read > 0 && read < wanted {
            this.drained_at = NonZeroU32::new(seen + 1);
        }
        // SAFETY: recv filled `read` bytes of the unfilled part.
        unsafe { buf.assume_init(read) };
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_io(cx, &this.readiness.writes, |socket| {
            send_vectored(socket, bufs)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.socket.shutdown(Shutdown::Write) {
            Err(err) if err.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(err)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// One non-blocking vectored write to `socket`, without SIGPIPE.
pub(crate) fn send_vectored(socket: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (documented by std), and the
    // slices outlive the call; the caller holds `socket` open.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
        msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
        libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
    };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A registered server side and the plain client side of one loopback connection.
    fn pair(reactor: &Reactor) -> (ClientSocket, TcpStream) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (reactor.register(server).expect("register"), client)
    }

    async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .unwrap_or_else(|_| panic!("{what} did not finish"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_waits_for_the_peer_and_sees_its_close() {
        let reactor = Reactor::start().expect("reactor");
        let (mut server, mut client) = pair(&reactor);
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.expect("read");
            got
        });
        for part in [&b"NICK a\r\n"[..], b"USER a 0 * :a\r\n"] {
            tokio::time::sleep(Duration::from_millis(20)).await;
            std::io::Write::write_all(&mut client, part).expect("client write");
        }
        drop(client);
        let got = within("the read", reading).await.expect("reader");
        assert_eq!(got, b"NICK a\r\nUSER a 0 * :a\r\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_after_short_reads_get_every_later_byte() {
        let reactor = Reactor::start().expect("reactor");
        let (mut server, mut client) = pair(&reactor);
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match server.read(&mut buf).await.expect("read") {
                    0 => return got,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        // Lines written one by one as fast as the client can: most reads come back short,
        // racing the next line's arrival.
        let writing = std::thread::spawn(move || {
            for i in 0..2000u32 {
                std::io::Write::write_all(&mut client, format!("PING {i}\r\n").as_bytes())
                    .expect("client write");
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        writing.join().expect("writer");
        let got = within("the reads", reading).await.expect("reader");
        let expected: String = (0..2000).map(|i| format!("PING {i}\r\n")).collect();
        assert_eq!(String::from_utf8(got).expect("text"), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_close_right_behind_the_last_line_ends_the_read() {
        let reactor = Reactor::start().expect("reactor");
        for round in 0..50u32 {
            let (mut server, mut client) = pair(&reactor);
            let reading = tokio::spawn(async move {
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.expect("read");
                got
            });
            let line = format!("QUIT :round {round}\r\n");
            std::io::Write::write_all(&mut client, line.as_bytes()).expect("client write");
            drop(client);
            let got = within("the read", reading).await.expect("reader");
            assert_eq!(got, line.as_bytes());
        }
    }

    #[test]
    fn a_client_socket_stays_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<ClientSocket>(), 16);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_to_a_full_socket_goes_on_once_the_peer_reads() {
        let reactor = Reactor::start().expect("reactor");
        let (mut server, mut client) = pair(&reactor);
        // Far more than the socket buffers of both sides hold.
        let sent = vec![b'x'; 16 << 20];
        let expected = sent.len();
        let writing = tokio::spawn(async move {
            server.write_all(&sent).await.expect("write");
            server.shutdown().await.expect("shutdown");
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!writing.is_finished(), "the socket took everything at once");
        let reading = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut client, &mut got).expect("client read");
            got.len()
        });
        within("the write", writing).await.expect("writer");
        assert_eq!(within("the read", reading).await.expect("reader"), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_sockets_are_each_woken_for_their_own_data() {
        let reactor = Reactor::start().expect("reactor");
        let mut clients = Vec::new();
        let mut readers = Vec::new();
        for n in 0..200u32 {
            let (mut server, client) = pair(&reactor);
            clients.push(client);
            readers.push(tokio::spawn(async move {
                let mut got = [0u8; 4];
                server.read_exact(&mut got).await.expect("read");
                assert_eq!(u32::from_be_bytes(got), n);
            }));
        }
        for (n, client) in clients.iter_mut().enumerate().rev() {
            std::io::Write::write_all(client, &(n as u32).to_be_bytes()).expect("client write");
        }
        for reader in readers {
            within("a read", reader).await.expect("reader");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reactor_task_ends_with_the_last_socket() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let reactor = Reactor::start().expect("reactor");
        assert_eq!(metrics.num_alive_tasks(), before + 1);
        let (server, client) = pair(&reactor);
        drop(reactor);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            metrics.num_alive_tasks(),
            before + 1,
            "ended under a socket"
        );
        drop((server, client));
        within("the reactor's end", async {
            while metrics.num_alive_tasks() != before {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}
