//! The connection actor: one task per client that reads lines, paces them (fakelag), runs their
//! handlers under the tenant lock, and tears the user down when the connection ends.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use latticed_crdt::{OpBody, Uid};
use latticed_proto::{check_client_line, numeric, LineCodec, LineEvent, Message, ParseError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::FramedRead;

use crate::caps::Caps;
use crate::commands::{dispatch, metric_name, Ctx};
use crate::flood::FakeLag;
use crate::outbound::{CloseReason, Outbound};
use crate::outgoing::prepend_tag;
use crate::tenant::{Outbox, Tenant};

/// Longest line read from a client: the message-tags limit (tags plus a 512-byte body).
const MAX_LINE: usize = latticed_proto::MAX_LINE_TOTAL;
/// Source of batch reference tags; unique per process is all the spec asks.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);
/// Initial read buffer per connection: most lines are short and idle connections are the common
/// case, so the buffer starts small and grows only for clients that send long lines or bursts.
const INITIAL_READ_BUFFER: usize = 512;
/// Lines read ahead of processing when flood control is off (backpressure beyond this).
const READ_AHEAD: usize = 64;

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
    /// The hostname shown for this client.
    pub host: String,
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
    /// Nick given before registration.
    pub nick: Option<String>,
    /// `USER` parameters before registration: username and realname.
    pub user: Option<(String, String)>,
    /// The registered user, once registration completed.
    pub uid: Option<Uid>,
    /// Set by QUIT: the connection ends after this command with this reason.
    pub quit: Option<String>,
}

impl ConnState {
    fn new(info: &ConnInfo, out: Outbound) -> ConnState {
        let host = match info.ip {
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
        };
        ConnState {
            ip: info.ip,
            host,
            tls: info.tls,
            out,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_302: false,
            nick: None,
            user: None,
            uid: None,
            quit: None,
        }
    }
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

/// Releases a per-IP slot when the connection ends, however it ends.
struct IpSlot<'a> {
    tenant: &'a Tenant,
    ip: IpAddr,
}

impl Drop for IpSlot<'_> {
    fn drop(&mut self) {
        self.tenant.release_ip(self.ip);
    }
}

/// Serve one client connection until it ends.
pub async fn serve<S>(tenant: Arc<Tenant>, stream: S, info: ConnInfo)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let metrics = tenant.metrics().clone();
    if !tenant.admit_ip(info.ip) {
        metrics.rejected_connections.inc();
        let (_, mut writer) = tokio::io::split(stream);
        let _ = writer
            .write_all(b"ERROR :Too many connections from your IP address\r\n")
            .await;
        let _ = writer.shutdown().await;
        return;
    }
    let _slot = IpSlot {
        tenant: &tenant,
        ip: info.ip,
    };
    metrics.connections.inc();
    metrics.connections_total.inc();
    let config = tenant.config();
    let (reader, writer) = tokio::io::split(stream);
    let (out, writer_handle) = Outbound::new(config.connection.sendq_bytes);
    let writer_task = tokio::spawn(writer_handle.run(writer));
    let mut conn = ConnState::new(&info, out.clone());
    tenant.lock().unregistered += 1;

    let ending = read_loop(&tenant, &mut conn, reader).await;
    finish(&tenant, &mut conn, ending);

    if tokio::time::timeout(Duration::from_secs(10), writer_task)
        .await
        .is_err()
    {
        tracing::debug!(ip = %info.ip, "writer did not finish flushing in time");
    }
    metrics.connections.dec();
}

async fn read_loop<R>(tenant: &Tenant, conn: &mut ConnState, reader: R) -> Ending
where
    R: AsyncRead + Unpin,
{
    let config = tenant.config();
    let flood_on = config.flood.enabled && !config.flood.is_exempt(conn.ip);
    let recvq_limit = if flood_on {
        config.flood.excess_disconnect_lines.max(1) as usize
    } else {
        READ_AHEAD
    };
    let mut framed =
        FramedRead::with_capacity(reader, LineCodec::new(MAX_LINE), INITIAL_READ_BUFFER);
    let mut recvq: VecDeque<LineEvent> = VecDeque::new();
    let mut bucket = FakeLag::new(config.flood.burst, config.flood.per_second, Instant::now());
    let registration_deadline =
        Instant::now() + Duration::from_secs(config.connection.registration_timeout_secs);
    let ping_interval = Duration::from_secs(config.connection.ping_interval_secs.max(1));
    let ping_timeout = Duration::from_secs(config.connection.ping_timeout_secs.max(1));
    let mut last_heard = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let out = conn.out.clone();

    loop {
        let now = Instant::now();
        let due = if flood_on {
            bucket.next_allowed(now)
        } else {
            now
        };
        let timer = if conn.uid.is_none() {
            registration_deadline
        } else {
            match ping_sent {
                Some(sent) => sent + ping_timeout,
                None => last_heard + ping_interval,
            }
        };
        tokio::select! {
            biased;
            _ = out.closed() => {
                return match out.close_reason() {
                    Some(CloseReason::SendQExceeded) => Ending::new("SendQ exceeded"),
                    Some(reason) => Ending::new(reason.quit_reason()),
                    None => Ending::new("Connection closed"),
                };
            }
            _ = sleep_until(due), if !recvq.is_empty() => {
                if let Some(event) = recvq.pop_front() {
                    if flood_on {
                        bucket.consume(Instant::now());
                    }
                    handle_event(tenant, conn, event);
                    if let Some(reason) = conn.quit.take() {
                        return Ending { error: format!("Closing link: ({reason})"), reason };
                    }
                }
            }
            event = framed.next(), if recvq.len() < recvq_limit => {
                match event {
                    None => return Ending::new("Connection closed"),
                    Some(Err(err)) => return Ending::new(format!("Read error: {err}")),
                    Some(Ok(event)) => {
                        last_heard = Instant::now();
                        ping_sent = None;
                        recvq.push_back(event);
                        if flood_on && recvq.len() >= recvq_limit {
                            tenant.metrics().flood_disconnects.inc();
                            return Ending::new("Excess Flood");
                        }
                    }
                }
            }
            _ = sleep_until(timer) => {
                if conn.uid.is_none() {
                    return Ending::new("Registration timed out");
                }
                if ping_sent.is_some() {
                    return Ending::new(format!("Ping timeout: {} seconds", ping_timeout.as_secs()));
                }
                let ping = Message::new("PING").with_param(tenant.node.server_name.clone());
                out.send(ping.to_bytes());
                ping_sent = Some(Instant::now());
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
