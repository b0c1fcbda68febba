//! The connection actor: one task per client that reads lines, paces them (fakelag), runs their
//! handlers under the tenant lock, writes the client's output, and tears the user down when the
//! connection ends.
//!
//! The task holds no buffers while the client is idle: reads go through a buffer on the stack
//! and only an unfinished line is kept between them, and output is written straight from the
//! queued lines (see [`crate::outbound`]). Lines that arrive together are handled as one batch,
//! and the writers of the connections they produced output for are woken once, at its end (or,
//! for an idle plain TCP connection, not at all: the batch's thread writes its lines itself).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use latticed_config::TenantConfig;
use latticed_crdt::{OpBody, Uid};
use latticed_proto::{check_client_line, numeric, LineCodec, LineEvent, Message, ParseError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::codec::Decoder;

use crate::caps::Caps;
use crate::commands::{dispatch, metric_name, Ctx};
use crate::deadlines::DeadlineSlot;
use crate::flood::FakeLag;
use crate::outbound::{CloseReason, Outbound, WakeBatch, WriterHandle};
use crate::outgoing::prepend_tag;
use crate::reactor::ClientSocket;
use crate::tenant::{Outbox, Tenant};

/// Longest line read from a client: the message-tags limit (tags plus a 512-byte body).
const MAX_LINE: usize = latticed_proto::MAX_LINE_TOTAL;
/// Source of batch reference tags; unique per process is all the spec asks.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);
/// Bytes taken from the socket per read, into a buffer on the stack.
const READ_CHUNK: usize = 16384;
/// Lines handled in a row before the connection lets other tasks run and looks at its socket
/// again (when flood control is off, a client's lines are handled as fast as they arrive).
const BATCH_LINES: usize = 256;
/// How long a closing connection may take to write its last lines and the farewell.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(10);

/// Facts about the transport of a new connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub ip: IpAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Per-connection state owned by the connection task.
pub struct ConnState {
    /// The client's address.
    pub ip: IpAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The send queue.
    pub out: Outbound,
    /// Enabled capabilities.
    pub caps: Caps,
    /// `CAP LS`/`REQ` seen and `CAP END` not yet: registration waits.
    pub cap_negotiating: bool,
    /// The client asked for `CAP LS 302` (or later): cap-notify is implied.
    pub cap_302: bool,
    /// What a connection holds only for a while: `NICK` and `USER` before registration, the
    /// reason of a `QUIT`. Boxed: the state lives in the connection's task for as long as it
    /// is connected.
    aside: Option<Box<Aside>>,
    /// The registered user, once registration completed.
    pub uid: Option<Uid>,
}

impl ConnState {
    fn new(info: &ConnInfo, out: Outbound) -> ConnState {
        ConnState {
            ip: info.ip,
            tls: info.tls,
            out,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_302: false,
            aside: None,
            uid: None,
        }
    }

    /// The hostname shown for this client: its address, IPv4-mapped addresses as IPv4, and a
    /// leading `0` before an IPv6 address that starts with `:` (a parameter cannot).
    pub fn host(&self) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let text = v6.to_string();
                    if text.starts_with(':') {
                        format!("0{text}")
                    } else {
                        text
                    }
                }
            },
        }
    }

    /// The nick given before registration, if any.
    pub fn pending_nick(&self) -> Option<&str> {
        self.aside.as_ref()?.nick.as_deref()
    }

    /// Set the nick given before registration; `None` forgets it.
    pub fn set_pending_nick(&mut self, nick: Option<String>) {
        self.aside.get_or_insert_default().nick = nick;
    }

    /// Set the `USER` parameters given before registration: username and realname.
    pub fn set_pending_user(&mut self, username: String, realname: String) {
        self.aside.get_or_insert_default().user = Some((username, realname));
    }

    /// `NICK` and `USER` as given before registration, once both are in. Taken: from then on
    /// the user's record holds them, and the connection keeps no copy.
    pub fn take_registration(&mut self) -> Option<(String, (String, String))> {
        let aside = self.aside.as_deref_mut()?;
        if aside.nick.is_none() || aside.user.is_none() {
            return None;
        }
        let registration = aside.nick.take().zip(aside.user.take());
        self.drop_empty_aside();
        registration
    }

    /// End the connection after the command being handled, with `reason` (QUIT).
    pub fn set_quit(&mut self, reason: String) {
        self.aside.get_or_insert_default().quit = Some(reason);
    }

    /// The reason given to [`ConnState::set_quit`], taken.
    fn take_quit(&mut self) -> Option<String> {
        let quit = self.aside.as_mut()?.quit.take();
        self.drop_empty_aside();
        quit
    }

    fn drop_empty_aside(&mut self) {
        if self
            .aside
            .as_deref()
            .is_some_and(|a| a.nick.is_none() && a.user.is_none() && a.quit.is_none())
        {
            self.aside = None;
        }
    }
}

/// What a connection holds only for a while (see [`ConnState::aside`]).
#[derive(Default)]
struct Aside {
    /// `NICK` before registration.
    nick: Option<String>,
    /// `USER` before registration: username and realname.
    user: Option<(String, String)>,
    /// Set by QUIT: the connection ends after this command with this reason.
    quit: Option<String>,
}

/// Why a connection ended: the reason other users see and the text of the final ERROR line.
struct Ending {
    reason: String,
    error: String,
}

impl Ending {
    fn new(reason: impl Into<String>) -> Ending {
        let reason = reason.into();
        Ending {
            error: format!("Closing link: ({reason})"),
            reason,
        }
    }
}

/// Serve one client connection until it ends.
pub fn serve<S>(tenant: Arc<Tenant>, stream: S, info: ConnInfo) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_with(tenant, stream, info, None)
}

/// Serve one plain TCP client connection until it ends. Lines queued for it while its task is
/// idle are written to the socket by the thread that queued them (see [`crate::outbound`]),
/// without waking its task.
pub fn serve_tcp(
    tenant: Arc<Tenant>,
    stream: ClientSocket,
    info: ConnInfo,
) -> impl Future<Output = ()> + Send {
    let socket = stream.as_raw_fd();
    serve_with(tenant, stream, info, Some(socket))
}

/// Serve a connection; `socket` is the descriptor of `stream` when it is a plain TCP socket.
///
/// The session is built before the future, and the future uses it in place: an `async fn`
/// would keep its arguments and the locals moved out of them side by side in the task for as
/// long as the connection lives (see `a_connection_task_stays_small`).
fn serve_with<S>(
    tenant: Arc<Tenant>,
    stream: S,
    info: ConnInfo,
    socket: Option<RawFd>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut session = Session::new(tenant, stream, &info);
    async move {
        if !session.admit() {
            // Boxed like the farewell below: the task is sized for its largest await.
            Box::pin(session.refuse()).await;
            return;
        }
        if let Some(socket) = socket {
            // SAFETY: `socket` is the descriptor of `session.stream`, which the session drops
            // after its writer (see `Session`).
            unsafe { session.writer.attach_socket(socket) };
        }
        session.watched = Some(session.tenant.deadlines().watch(&session.conn.out));
        let ending = poll_fn(|cx| session.poll_run(cx)).await;
        session.unwatch();
        finish(&session.tenant, &mut session.conn, ending);
        // Boxed: only a closing connection needs it, and the task would be sized for it.
        Box::pin(session.farewell()).await;
        session.tenant.metrics().connections.dec();
    }
}

/// Everything a connection's task owns. Dropping it gives back what the connection holds in
/// the tenant: its per-IP slot and its place in the deadline sweeper.
struct Session<S> {
    tenant: Arc<Tenant>,
    /// Declared before `stream`, so dropped before it: the writer's drop detaches the socket.
    writer: WriterHandle,
    stream: S,
    conn: ConnState,
    input: Input,
    timeouts: Timeouts,
    /// Watched by the tenant's deadline sweeper, from admission until the connection ends.
    watched: Option<DeadlineSlot>,
    /// Admitted under the per-IP limit: a slot to release.
    admitted: bool,
    /// Lines were handled and the task waits for what to do next ([`Session::poll_wake`]).
    waiting: bool,
    /// The last batch was cut short: more lines can be handled at once.
    more: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(tenant: Arc<Tenant>, stream: S, info: &ConnInfo) -> Session<S> {
        let config = tenant.config();
        let (out, writer) = Outbound::new(config.connection.sendq_bytes);
        let input = Input::new(&config, info.ip);
        let timeouts = Timeouts::new(&config);
        drop(config);
        Session {
            conn: ConnState::new(info, out),
            tenant,
            writer,
            stream,
            input,
            timeouts,
            watched: None,
            admitted: false,
            waiting: false,
            more: false,
        }
    }

    /// Take a per-IP slot and count the connection; false if the address has too many.
    fn admit(&mut self) -> bool {
        let metrics = self.tenant.metrics();
        if !self.tenant.admit_ip(self.conn.ip) {
            metrics.rejected_connections.inc();
            return false;
        }
        self.admitted = true;
        metrics.connections.inc();
        metrics.connections_total.inc();
        self.tenant.lock().unregistered += 1;
        true
    }

    /// Tell a connection that was not admitted why, and close it.
    async fn refuse(&mut self) {
        let _ = self
            .stream
            .write_all(b"ERROR :Too many connections from your IP address\r\n")
            .await;
        let _ = self.stream.shutdown().await;
    }

    /// Read, handle and write until the connection must end. The registration and ping
    /// deadlines are watched by the tenant's sweeper ([`crate::deadlines`]); fakelag has a
    /// timer of its own.
    ///
    /// One poll function rather than an `async` loop: the task then holds the session and a
    /// pointer to it, not a future with copies of the session's references.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        loop {
            if !self.waiting {
                self.more = match self.input.handle_ready(&self.tenant, &mut self.conn) {
                    Ok(more) => more,
                    Err(ending) => return Poll::Ready(ending),
                };
                if self.input.eof && !self.more {
                    return Poll::Ready(Ending::new("Connection closed"));
                }
                self.set_deadline();
                self.input.set_fakelag_timer();
                self.waiting = true;
            }
            let wake = ready!(self.poll_wake(cx));
            self.waiting = false;
            match wake {
                Wake::Read => {}
                Wake::Work => {
                    // Let other tasks run: woken now, polled again after them.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Wake::Eof => {
                    if let Err(ending) = self.input.end_of_stream() {
                        return Poll::Ready(ending);
                    }
                }
                Wake::ReadError(err) => {
                    return Poll::Ready(Ending::new(format!("Read error: {err}")))
                }
                Wake::Closed => return Poll::Ready(closed_ending(&self.conn.out)),
                Wake::Timer => {
                    if let Some(ending) = self.check_deadlines() {
                        return Poll::Ready(ending);
                    }
                }
            }
        }
    }

    /// Store the next registration or ping deadline for the sweeper. Every line heard moves the
    /// ping deadline: one store, seen by the next sweep.
    fn set_deadline(&self) {
        let input = &self.input;
        let next = if self.conn.uid.is_none() {
            self.timeouts.registration
        } else {
            let quiet_until = input.last_heard + self.timeouts.ping_interval();
            if input.pinged {
                quiet_until + self.timeouts.ping_timeout()
            } else {
                quiet_until
            }
        };
        self.tenant.deadlines().set(&self.conn.out, next);
    }

    /// Write what is queued and read what arrived; Ready with what needs handling.
    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if self.conn.out.is_closed() {
            return Poll::Ready(Wake::Closed);
        }
        // Pending until there is nothing left to write; Ready only once closed (above).
        let _ = self.writer.poll_write(cx, Pin::new(&mut self.stream));
        if self.more {
            return Poll::Ready(Wake::Work);
        }
        if !self.input.eof {
            match self.input.poll_read(cx, Pin::new(&mut self.stream)) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Wake::Eof),
                Poll::Ready(Ok(_)) => return Poll::Ready(Wake::Read),
                Poll::Ready(Err(err)) => return Poll::Ready(Wake::ReadError(err)),
                Poll::Pending => {}
            }
        }
        if self.conn.out.woken() || self.input.poll_fakelag_timer(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    /// After a timer woke the task (possibly early): end a registration or ping that timed
    /// out, or ping a client that has been quiet for the ping interval.
    fn check_deadlines(&mut self) -> Option<Ending> {
        let now = Instant::now();
        let timeouts = &self.timeouts;
        let input = &mut self.input;
        if self.conn.uid.is_none() {
            if now >= timeouts.registration {
                return Some(Ending::new("Registration timed out"));
            }
        } else if input.pinged {
            if now >= input.last_heard + timeouts.ping_interval() + timeouts.ping_timeout() {
                return Some(Ending::new(format!(
                    "Ping timeout: {} seconds",
                    timeouts.ping_timeout_secs
                )));
            }
        } else if now >= input.last_heard + timeouts.ping_interval() {
            let ping = Message::new("PING").with_param(self.tenant.node.server_name.clone());
            self.conn.out.send(ping.to_bytes());
            input.pinged = true;
        }
        None
    }

    /// Write the last lines and the farewell, then close, within [`FAREWELL_TIMEOUT`].
    async fn farewell(&mut self) {
        let ip = self.conn.ip;
        let (writer, stream) = (&mut self.writer, &mut self.stream);
        let farewell = async {
            poll_fn(|cx| writer.poll_write(cx, Pin::new(&mut *stream))).await;
            stream.flush().await?;
            stream.shutdown().await
        };
        match tokio::time::timeout(FAREWELL_TIMEOUT, farewell).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!(%ip, %err, "closing the connection failed"),
            Err(_) => tracing::debug!(%ip, "writer did not finish flushing in time"),
        }
    }
}

impl<S> Session<S> {
    /// Leave the deadline sweeper.
    fn unwatch(&mut self) {
        if let Some(slot) = self.watched.take() {
            self.tenant.deadlines().forget(slot);
        }
    }
}

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        self.unwatch();
        if self.admitted {
            self.tenant.release_ip(self.conn.ip);
        }
    }
}

/// What woke the connection's task.
enum Wake {
    /// Bytes arrived; they are in the input buffer.
    Read,
    /// The client closed its side of the connection.
    Eof,
    /// Reading failed.
    ReadError(io::Error),
    /// The output was closed (send queue overflow, KILL, shutdown).
    Closed,
    /// A batch was cut short: more lines can be handled at once.
    Work,
    /// A deadline passed: fakelag, registration or ping (possibly early: checked anew).
    Timer,
}

/// A connection's registration deadline and ping timing, from the tenant's configuration when
/// it connected. Seconds as `u32`: this lives in every connection's task.
struct Timeouts {
    registration: Instant,
    ping_interval_secs: u32,
    ping_timeout_secs: u32,
}

impl Timeouts {
    fn new(config: &TenantConfig) -> Timeouts {
        let secs = |value: u64| u32::try_from(value.max(1)).unwrap_or(u32::MAX);
        let connection = &config.connection;
        Timeouts {
            registration: Instant::now() + connection.registration_timeout(),
            ping_interval_secs: secs(connection.ping_interval_secs),
            ping_timeout_secs: secs(connection.ping_timeout_secs),
        }
    }

    fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs.into())
    }

    fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout_secs.into())
    }
}

/// How a connection whose output was closed ends.
fn closed_ending(out: &Outbound) -> Ending {
    match out.close_reason() {
        Some(CloseReason::SendQExceeded) => Ending::new("SendQ exceeded"),
        Some(reason) => Ending::new(reason.quit_reason()),
        None => Ending::new("Connection closed"),
    }
}

/// The read side of a connection: bytes not yet split into lines, lines held back by fakelag,
/// and when the client was last heard from.
struct Input {
    codec: LineCodec,
    /// Bytes read and not yet split into lines. Between reads it holds at most an unfinished
    /// line, and no memory once everything read has been handled.
    buf: BytesMut,
    /// Lines waiting for fakelag (and an unterminated last line at end of stream). Boxed and
    /// only while there are any: most connections never hold a line back.
    recvq: Option<Box<HeldLines>>,
    /// Flood control, for a connection under it (`None`: off or exempt).
    flood: Option<Box<Flood>>,
    last_heard: Instant,
    /// Pinged for being quiet since `last_heard`. The ping timeout counts from when the ping
    /// was due, at most one sweep ([`crate::deadlines::SWEEP_EVERY`]) before it was sent: no
    /// second instant in every connection's task.
    pinged: bool,
    /// The client closed its side; what it sent before is still handled.
    eof: bool,
}

/// Lines held back (see [`Input::recvq`]).
#[derive(Default)]
struct HeldLines(VecDeque<LineEvent>);

/// The fakelag state of a connection under flood control. Boxed in [`Input`], so it stays out of
/// the connection's task, which tokio allocates in steps of 128 bytes (the task fits one step
/// less with it out, see `a_connection_task_stays_small`), and an exempt connection, or one of
/// a tenant without flood control, has none at all.
struct Flood {
    bucket: FakeLag,
    /// Lines waiting in `recvq` that make the client be disconnected for excess flood.
    excess: usize,
    /// Fires when the first line held back may be handled; only while lines are held back.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Input {
    fn new(config: &TenantConfig, ip: IpAddr) -> Input {
        let flood_on = config.flood.enabled && !config.flood.is_exempt(ip);
        let flood = flood_on.then(|| {
            Box::new(Flood {
                bucket: FakeLag::new(config.flood.burst, config.flood.per_second, Instant::now()),
                excess: config.flood.excess_disconnect_lines.max(1) as usize,
                timer: None,
            })
        });
        Input {
            codec: LineCodec::new(MAX_LINE),
            buf: BytesMut::new(),
            recvq: None,
            flood,
            last_heard: Instant::now(),
            pinged: false,
            eof: false,
        }
    }

    /// Read what the socket has into the input buffer (through a buffer on the stack, so the
    /// connection keeps only what it has not handled yet). Ready(Ok(0)) at end of stream.
    fn poll_read<S: AsyncRead + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        stream: Pin<&mut S>,
    ) -> Poll<io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut chunk);
        ready!(stream.poll_read(cx, &mut read))?;
        self.buf.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    }

    /// The next complete line in the input buffer, if any.
    fn next_line(&mut self) -> Result<Option<LineEvent>, Ending> {
        let event = self
            .codec
            .decode(&mut self.buf)
            .map_err(|err| Ending::new(format!("Read error: {err}")))?;
        if event.is_some() {
            self.last_heard = Instant::now();
            self.pinged = false;
        }
        Ok(event)
    }

    /// The stream ended: an unterminated last line still counts.
    fn end_of_stream(&mut self) -> Result<(), Ending> {
        self.eof = true;
        let last = self
            .codec
            .decode_eof(&mut self.buf)
            .map_err(|err| Ending::new(format!("Read error: {err}")))?;
        if let Some(last) = last {
            self.hold(last);
        }
        Ok(())
    }

    /// When the first line held back by fakelag may be handled, if any is.
    fn next_due(&mut self) -> Option<Instant> {
        let flood = self.flood.as_mut()?;
        self.recvq.as_ref()?;
        Some(flood.bucket.next_allowed(Instant::now()))
    }

    /// Set the fakelag timer to [`Input::next_due`]; without lines held back there is none.
    fn set_fakelag_timer(&mut self) {
        let due = self.next_due();
        let Some(flood) = self.flood.as_mut() else {
            return;
        };
        match (due, flood.timer.as_mut()) {
            (None, _) => flood.timer = None,
            (Some(due), Some(timer)) => {
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
            }
            (Some(due), None) => flood.timer = Some(Box::pin(tokio::time::sleep_until(due))),
        }
    }

    /// Ready once the first line held back may be handled.
    fn poll_fakelag_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.flood.as_mut().and_then(|flood| flood.timer.as_mut()) {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    /// Hold `event` back until it may be handled; returns how many lines are held.
    fn hold(&mut self, event: LineEvent) -> usize {
        let held = &mut self.recvq.get_or_insert_default().0;
        held.push_back(event);
        held.len()
    }

    /// The first line held back, if any; the queue goes once empty.
    fn take_held(&mut self) -> Option<LineEvent> {
        let held = &mut self.recvq.as_mut()?.0;
        let event = held.pop_front();
        if held.is_empty() {
            self.recvq = None;
        }
        event
    }

    /// Handle every line that may be handled now, at most [`BATCH_LINES`] of them, as one
    /// [`WakeBatch`]; with flood control on, hold back the others. Ok(true) when the batch was
    /// cut short with lines left to handle at once; Err when the connection must end.
    fn handle_ready(&mut self, tenant: &Tenant, conn: &mut ConnState) -> Result<bool, Ending> {
        let batch = WakeBatch::begin();
        let result = self.handle_batch(tenant, conn);
        drop(batch);
        if self.buf.is_empty() {
            // Even with no capacity left, an emptied buffer still holds the allocation it was
            // split from; a new one holds nothing.
            self.buf = BytesMut::new();
        }
        result
    }

    fn handle_batch(&mut self, tenant: &Tenant, conn: &mut ConnState) -> Result<bool, Ending> {
        let mut handled = 0;
        loop {
            if conn.out.is_closed() {
                return Err(closed_ending(&conn.out));
            }
            let now = Instant::now();
            let due = self
                .flood
                .as_mut()
                .is_none_or(|flood| flood.bucket.next_allowed(now) <= now);
            if due {
                if handled == BATCH_LINES {
                    return Ok(true);
                }
                let event = match self.take_held() {
                    Some(event) => Some(event),
                    None => self.next_line()?,
                };
                let Some(event) = event else {
                    return Ok(false);
                };
                if let Some(flood) = self.flood.as_mut() {
                    flood.bucket.consume(now);
                }
                handle_event(tenant, conn, event);
                handled += 1;
                if let Some(reason) = conn.take_quit() {
                    return Err(Ending {
                        error: format!("Closing link: ({reason})"),
                        reason,
                    });
                }
                continue;
            }
            // Not due yet: hold the line back; too many held back is excess flood.
            let Some(event) = self.next_line()? else {
                return Ok(false);
            };
            let held = self.hold(event);
            let excess = self.flood.as_ref().map_or(usize::MAX, |flood| flood.excess);
            if held >= excess {
                tenant.metrics().flood_disconnects.inc();
                return Err(Ending::new("Excess Flood"));
            }
        }
    }
}

/// Handle one line from the client: limits, parsing, dispatch, and delivery of the replies.
fn handle_event(tenant: &Tenant, conn: &mut ConnState, event: LineEvent) {
    let config = tenant.config();
    let mut core = tenant.lock();
    let mut outbox = Outbox::new(conn.uid);
    let mut ctx = Ctx {
        tenant,
        config: &config,
        core: &mut core,
        conn,
        outbox: &mut outbox,
    };
    let label = match event {
        LineEvent::TooLong => {
            tenant.metrics().message_in("unknown");
            ctx.numeric(numeric::ERR_INPUTTOOLONG, ["Input line was too long"]);
            None
        }
        LineEvent::Line(line) => handle_line(&mut ctx, &line),
    };
    flush(&core, conn, outbox, label);
}

/// Parse and run one line; returns the `label` tag to answer with, if labeled-response applies.
fn handle_line(ctx: &mut Ctx<'_>, line: &[u8]) -> Option<String> {
    if line.iter().all(|b| *b == b' ') {
        return None;
    }
    if check_client_line(line).is_err() {
        ctx.tenant.metrics().message_in("unknown");
        ctx.numeric(numeric::ERR_INPUTTOOLONG, ["Input line was too long"]);
        return None;
    }
    let parsed = match Message::parse(line) {
        Ok(msg) => Ok(msg),
        Err(ParseError::InvalidUtf8 { command }) if !ctx.config.connection.utf8_only => {
            Message::parse(String::from_utf8_lossy(line).as_bytes())
                .map_err(|_| ParseError::InvalidUtf8 { command })
        }
        Err(err) => Err(err),
    };
    let msg = match parsed {
        Ok(msg) => msg,
        Err(err) => {
            ctx.tenant.metrics().message_in("unknown");
            reject_line(ctx, err);
            return None;
        }
    };
    ctx.tenant.metrics().message_in(metric_name(&msg.command));
    let label = if ctx.has_cap(Caps::LABELED_RESPONSE) {
        msg.tag("label").flatten().map(str::to_owned)
    } else {
        None
    };
    dispatch(ctx, &msg);
    label
}

fn reject_line(ctx: &mut Ctx<'_>, err: ParseError) {
    match err {
        ParseError::Empty => {}
        ParseError::InvalidUtf8 { command } => {
            let command = command.unwrap_or_else(|| "*".into());
            ctx.standard_reply(
                "FAIL",
                &command,
                "INVALID_UTF8",
                &[],
                "Message rejected for containing invalid UTF-8",
            );
        }
        ParseError::InvalidCommand { command } => {
            ctx.numeric(
                numeric::ERR_UNKNOWNCOMMAND,
                [command.as_str(), "Unknown command"],
            );
        }
        ParseError::NulByte => {
            ctx.numeric(
                numeric::ERR_UNKNOWNERROR,
                ["*", "Message contained a NUL byte"],
            );
        }
        other => {
            ctx.numeric(
                numeric::ERR_UNKNOWNERROR,
                ["*".to_owned(), format!("Malformed message: {other}")],
            );
        }
    }
}

/// Queue a command's replies on the connection, wrapped for labeled-response: no reply becomes an
/// ACK, one reply carries the label, several go in a `labeled-response` batch.
fn flush(core: &crate::tenant::Core, conn: &ConnState, outbox: Outbox, label: Option<String>) {
    let lines = outbox.lines;
    let Some(label) = label else {
        for line in lines {
            conn.out.send(line);
        }
        return;
    };
    let server = core.server_name.clone();
    match lines.len() {
        0 => {
            let ack = Message::new("ACK")
                .with_source(server)
                .with_tag("label", Some(label));
            conn.out.send(ack.to_bytes());
        }
        1 => {
            conn.out.send(prepend_tag(&lines[0], "label", &label));
        }
        _ => {
            let id = format!("lr{}", NEXT_BATCH.fetch_add(1, Ordering::Relaxed));
            let start = Message::new("BATCH")
                .with_source(server.clone())
                .with_param(format!("+{id}"))
                .with_param("labeled-response")
                .with_tag("label", Some(label));
            conn.out.send(start.to_bytes());
            for line in &lines {
                conn.out.send(prepend_tag(line, "batch", &id));
            }
            let end = Message::new("BATCH")
                .with_source(server)
                .with_param(format!("-{id}"));
            conn.out.send(end.to_bytes());
        }
    }
}

/// Remove the user from the network (if it registered) and close the connection.
fn finish(tenant: &Tenant, conn: &mut ConnState, ending: Ending) {
    let mut core = tenant.lock();
    match conn.uid {
        Some(uid) => {
            if core.state.user(uid).is_some() {
                let mut outbox = Outbox::new(Some(uid));
                core.commit(
                    OpBody::UserDepart {
                        uid,
                        reason: ending.reason.clone(),
                    },
                    &mut outbox,
                );
            }
            core.local.remove(&uid);
        }
        None => core.unregistered = core.unregistered.saturating_sub(1),
    }
    drop(core);
    conn.out
        .close(CloseReason::Server(ending.reason), &ending.error);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use latticed_crdt::{NodeId, Op};
    use latticed_eventlog::EventLog;
    use tokio::io::AsyncReadExt;

    use crate::reactor::Reactor;
    use crate::tenant::{NodeInfo, OpSink};
    use crate::Metrics;

    /// Drops every op: these tests look at the connection, not at what the tenant records.
    struct Discard;

    impl OpSink for Discard {
        fn record(&self, _op: &Op, _seen: &BTreeMap<NodeId, u64>) {}

        fn persist_clock_ceiling(&self, _ceiling: u64) {}
    }

    /// A tenant with `config`, its event log in `dir`.
    fn tenant(config: TenantConfig, dir: &tempfile::TempDir) -> Arc<Tenant> {
        let metrics = Metrics::register(&prometheus::Registry::new()).expect("metrics");
        let node = NodeInfo {
            id: NodeId(1),
            server_name: "irc.test".into(),
            description: "test".into(),
            version: "test".into(),
            started: "now".into(),
            peers: BTreeMap::new(),
            epoch: 1,
        };
        let log = EventLog::open(dir.path().join("log")).expect("open event log");
        Arc::new(Tenant::new(
            Arc::new(config),
            node,
            metrics.for_tenant("test"),
            Arc::new(Discard),
            log,
            None,
        ))
    }

    fn info() -> ConnInfo {
        ConnInfo {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tls: false,
        }
    }

    #[tokio::test]
    async fn lines_sent_together_are_all_answered_and_a_last_unterminated_line_counts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = tenant(TenantConfig::default(), &dir);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(serve(tenant, server, info()));
        client
            .write_all(b"NICK alice\r\nUSER u 0 * :Alice\r\nPING :one\r\nPING :two")
            .await
            .expect("write");
        client.shutdown().await.expect("half-close");
        let mut got = String::new();
        client.read_to_string(&mut got).await.expect("read");
        task.await.expect("connection task");
        let welcome = got.find(" 001 alice ").expect("registered");
        let one = got.find("PONG irc.test one").expect("first PONG");
        let two = got
            .find("PONG irc.test two")
            .expect("PONG to the unterminated line");
        assert!(welcome < one && one < two, "in order: {got}");
        assert!(
            got.ends_with("ERROR :Closing link: (Connection closed)\r\n"),
            "ends with the farewell: {got}"
        );
    }

    /// Reads everything the server sends until it closes, bounded by `within`.
    async fn read_until_closed(client: &mut tokio::io::DuplexStream, within: Duration) -> String {
        let mut got = Vec::new();
        tokio::time::timeout(within, client.read_to_end(&mut got))
            .await
            .expect("the server closes the connection in time")
            .expect("read");
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn a_connection_that_does_not_register_in_time_is_closed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = TenantConfig::default();
        config.connection.registration_timeout_secs = 1;
        let tenant = tenant(config, &dir);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(serve(tenant.clone(), server, info()));
        client.write_all(b"NICK slow\r\n").await.expect("write");
        let started = Instant::now();
        let got = read_until_closed(&mut client, Duration::from_secs(10)).await;
        task.await.expect("connection task");
        assert!(
            got.ends_with("ERROR :Closing link: (Registration timed out)\r\n"),
            "{got}"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "not before the timeout: {:?}",
            started.elapsed()
        );
        assert_eq!(tenant.lock().unregistered, 0);
    }

    /// A tenant that pings a client after a second of silence and waits a second for the PONG.
    fn pinging_every_second(dir: &tempfile::TempDir) -> Arc<Tenant> {
        let mut config = TenantConfig::default();
        config.connection.ping_interval_secs = 1;
        config.connection.ping_timeout_secs = 1;
        tenant(config, dir)
    }

    #[tokio::test]
    async fn a_quiet_client_is_pinged_and_one_that_does_not_answer_times_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = pinging_every_second(&dir);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(serve(tenant.clone(), server, info()));
        client
            .write_all(b"NICK quiet\r\nUSER u 0 * :Quiet\r\n")
            .await
            .expect("write");
        let got = read_until_closed(&mut client, Duration::from_secs(10)).await;
        task.await.expect("connection task");
        let ping = got.find("PING irc.test").expect("pinged");
        let end = got
            .find("ERROR :Closing link: (Ping timeout: 1 seconds)")
            .expect("timed out");
        assert!(ping < end, "{got}");
        assert_eq!(tenant.lock().state.user_count(), 0);
    }

    /// A client that stops reading fills its socket; its task then waits for the socket, and
    /// the ping timeout must still reach it (the sweeper wakes it through its send queue).
    #[tokio::test]
    async fn a_client_that_stops_reading_still_times_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = pinging_every_second(&dir);
        // Far smaller than the welcome burst: the writer is stuck on a full socket at once.
        let (mut client, server) = tokio::io::duplex(64);
        let _task = tokio::spawn(serve(tenant.clone(), server, info()));
        client
            .write_all(b"NICK stuck\r\nUSER u 0 * :Stuck\r\n")
            .await
            .expect("write");
        let registered = tokio::time::timeout(Duration::from_secs(5), async {
            while tenant.lock().state.user_count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        registered.await.expect("registered");
        let gone = tokio::time::timeout(Duration::from_secs(10), async {
            while tenant.lock().state.user_count() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        gone.await
            .expect("a client whose socket is full is still timed out");
    }

    /// Every connection's task holds its `serve` future: tokio allocates it with 104 bytes of
    /// its own (header 32, scheduler and id 16, stage tag 8, trailer 48), in steps of 128 bytes.
    /// Up to 280 bytes the task takes 384 bytes, not 512 or more;
    /// state used by few connections belongs behind a box, deadlines in the tenant's sweeper
    /// ([`crate::deadlines`]), not in a timer of each connection, socket readiness in the
    /// node's reactor ([`crate::reactor`]), and the loop in one poll function over the session
    /// ([`Session::poll_run`]), not in `async fn`s that copy their arguments.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = tenant(TenantConfig::default(), &dir);
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let _client =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (stream, _) = listener.accept().expect("accept");
        let stream = Reactor::start()
            .expect("reactor")
            .register(stream)
            .expect("register");
        let task = serve_tcp(tenant, stream, info());
        let size = std::mem::size_of_val(&task);
        assert!(size <= 280, "the serve future takes {size} bytes");
    }

    #[test]
    fn handled_input_keeps_only_an_unfinished_line_and_then_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = tenant(TenantConfig::default(), &dir);
        let config = tenant.config();
        let (out, _writer) = Outbound::new(1 << 16);
        let mut conn = ConnState::new(&info(), out);
        let mut input = Input::new(&config, conn.ip);

        input.buf.extend_from_slice(b"PING :a\r\nPIN");
        assert!(matches!(input.handle_ready(&tenant, &mut conn), Ok(false)));
        assert_eq!(&input.buf[..], b"PIN");
        let answered = conn.out.queued_bytes();
        assert!(answered > 0, "the complete line was handled");

        input.buf.extend_from_slice(b"G :b\r\n");
        assert!(matches!(input.handle_ready(&tenant, &mut conn), Ok(false)));
        assert!(
            conn.out.queued_bytes() > answered,
            "the finished line was handled"
        );
        assert_eq!(input.buf.capacity(), 0, "no read buffer once idle");
        assert!(input.recvq.is_none());
    }

    #[test]
    fn lines_beyond_the_burst_wait_and_too_many_waiting_is_excess_flood() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = TenantConfig::default();
        config.flood.burst = 2;
        config.flood.per_second = 0.001;
        config.flood.excess_disconnect_lines = 4;
        let tenant = tenant(config, &dir);
        let config = tenant.config();
        let (out, _writer) = Outbound::new(1 << 16);
        let mut conn = ConnState::new(&info(), out);
        let mut input = Input::new(&config, conn.ip);

        input
            .buf
            .extend_from_slice(b"PING :1\r\nPING :2\r\nPING :3\r\nPING :4\r\n");
        assert!(matches!(input.handle_ready(&tenant, &mut conn), Ok(false)));
        assert_eq!(
            input.recvq.as_ref().map(|held| held.0.len()),
            Some(2),
            "two handled at once, two held back"
        );
        assert!(input.next_due().is_some_and(|due| due > Instant::now()));

        input.buf.extend_from_slice(b"PING :5\r\nPING :6\r\n");
        match input.handle_ready(&tenant, &mut conn) {
            Err(ending) => assert_eq!(ending.reason, "Excess Flood"),
            Ok(more) => panic!("four lines held back must end the connection (more: {more})"),
        }
    }
}
