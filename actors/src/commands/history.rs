//! IRCv3 `draft/chathistory`: CHATHISTORY LATEST / BEFORE / AFTER / AROUND / BETWEEN / TARGETS,
//! answered from the node's event log.

use std::sync::atomic::{AtomicU64, Ordering};

use latticed_crdt::{MessageTarget, MsgId, Op, OpBody, Uid};
use latticed_eventlog::{Anchor, HistoryTarget};
use latticed_proto::Message;

use super::Ctx;
use crate::outgoing::{message_line, prepend_tag, Outgoing};
use crate::time::{iso8601, parse_iso8601};

/// Source of `chathistory` batch reference tags.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

/// `CHATHISTORY <subcommand> ...`.
pub fn chathistory(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(sub) = msg.params.first().map(|s| s.to_ascii_uppercase()) else {
        ctx.need_more_params("CHATHISTORY");
        return;
    };
    let max = ctx.config.history.max_query;
    if sub == "TARGETS" {
        targets(ctx, me, &msg.params[1..], max);
        return;
    }
    let arity = match sub.as_str() {
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" => 3,
        "BETWEEN" => 4,
        _ => {
            fail(
                ctx,
                "UNKNOWN_COMMAND",
                &[&sub],
                "Unknown CHATHISTORY subcommand",
            );
            return;
        }
    };
    let args = &msg.params[1..];
    if args.len() < arity {
        fail(ctx, "INVALID_PARAMS", &[&sub], "Not enough parameters");
        return;
    }
    let name = args[0].clone();
    let Some(limit) = args[arity - 1].parse::<usize>().ok().filter(|l| *l > 0) else {
        fail(ctx, "INVALID_PARAMS", &[&sub], "Invalid limit");
        return;
    };
    let limit = limit.min(max);
    let Some(target) = resolve_target(ctx, me, &name) else {
        fail(
            ctx,
            "INVALID_TARGET",
            &[&sub, &name],
            "Messages could not be retrieved",
        );
        return;
    };
    let first = if sub == "LATEST" && args[1] == "*" {
        None
    } else {
        match parse_anchor(&args[1]) {
            Some(a) => Some(a),
            None => {
                fail(ctx, "INVALID_PARAMS", &[&sub], "Invalid message reference");
                return;
            }
        }
    };
    let tenant = ctx.tenant.id.clone();
    let log = ctx.tenant.log();
    let result = match (sub.as_str(), first) {
        ("LATEST", anchor) => log.history_latest(&tenant, &target, anchor, limit),
        ("BEFORE", Some(a)) => log.history_before(&tenant, &target, a, limit),
        ("AFTER", Some(a)) => log.history_after(&tenant, &target, a, limit),
        ("AROUND", Some(a)) => log.history_around(&tenant, &target, a, limit),
        ("BETWEEN", Some(a)) => match parse_anchor(&args[2]) {
            Some(b) => log.history_between(&tenant, &target, a, b, limit),
            None => {
                fail(ctx, "INVALID_PARAMS", &[&sub], "Invalid message reference");
                return;
            }
        },
        _ => {
            fail(ctx, "INVALID_PARAMS", &[&sub], "Invalid message reference");
            return;
        }
    };
    match result {
        Ok(ops) => send_batch(ctx, &name, &ops),
        Err(err) => {
            tracing::warn!(%err, "CHATHISTORY query failed");
            fail(
                ctx,
                "MESSAGE_ERROR",
                &[&sub, &name],
                "Messages could not be retrieved",
            );
        }
    }
}

/// A channel the user is in, or a conversation with an existing user.
fn resolve_target(ctx: &Ctx<'_>, me: Uid, name: &str) -> Option<HistoryTarget> {
    if name.starts_with('#') {
        let chan = ctx.core.state.channel(name)?;
        chan.member(me)?;
        return Some(HistoryTarget::Channel(chan.name.clone()));
    }
    let peer = ctx.core.state.uid_by_nick(name)?;
    Some(HistoryTarget::Conversation(me, peer))
}

/// `timestamp=<ISO 8601>` or `msgid=<id>`.
fn parse_anchor(text: &str) -> Option<Anchor> {
    if let Some(ts) = text.strip_prefix("timestamp=") {
        return parse_iso8601(ts).map(Anchor::Time);
    }
    let id = text.strip_prefix("msgid=")?;
    if id.len() != 32 {
        return None;
    }
    u128::from_str_radix(id, 16)
        .ok()
        .map(|n| Anchor::MsgId(MsgId(n)))
}

fn fail(ctx: &mut Ctx<'_>, code: &str, context: &[&str], text: &str) {
    ctx.standard_reply("FAIL", "CHATHISTORY", code, context, text);
}

/// The messages as a `chathistory` batch, each as this client would have received it live.
fn send_batch(ctx: &mut Ctx<'_>, target: &str, ops: &[Op]) {
    let id = format!("ch{}", NEXT_BATCH.fetch_add(1, Ordering::Relaxed));
    let server = ctx.server().to_owned();
    ctx.send(
        Message::new("BATCH")
            .with_source(server.clone())
            .with_param(format!("+{id}"))
            .with_param("chathistory")
            .with_param(target.to_owned()),
    );
    let caps = ctx.conn.caps;
    for op in ops {
        let Some(mut message) = history_line(ctx, op) else {
            continue;
        };
        let line = message.for_caps(caps);
        ctx.outbox.lines.push(prepend_tag(&line, "batch", &id));
    }
    ctx.send(
        Message::new("BATCH")
            .with_source(server)
            .with_param(format!("-{id}")),
    );
}

fn history_line(ctx: &Ctx<'_>, op: &Op) -> Option<Outgoing> {
    let OpBody::Message {
        msgid,
        source,
        target,
        kind,
        text,
        tags,
        ..
    } = &op.body
    else {
        return None;
    };
    let target = match target {
        MessageTarget::Channel(name) => name.clone(),
        MessageTarget::User(uid) => ctx
            .core
            .state
            .user(*uid)
            .map(|u| u.nick.to_string())
            .unwrap_or_else(|| uid.to_string()),
    };
    Some(message_line(
        *kind, source, target, text, *msgid, tags, op.wall_ms,
    ))
}

/// `CHATHISTORY TARGETS <timestamp=> <timestamp=> <limit>`: channels and conversations with
/// messages in the range.
fn targets(ctx: &mut Ctx<'_>, me: Uid, args: &[String], max: usize) {
    let (Some(a), Some(b), Some(limit)) = (
        args.first()
            .and_then(|t| t.strip_prefix("timestamp="))
            .and_then(parse_iso8601),
        args.get(1)
            .and_then(|t| t.strip_prefix("timestamp="))
            .and_then(parse_iso8601),
        args.get(2)
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0),
    ) else {
        fail(ctx, "INVALID_PARAMS", &["TARGETS"], "Invalid parameters");
        return;
    };
    let channels: Vec<String> = ctx
        .core
        .state
        .channels_of(me)
        .map(|c| c.name.clone())
        .collect();
    let tenant = ctx.tenant.id.clone();
    let found = ctx
        .tenant
        .log()
        .history_targets(&tenant, me, &channels, a, b, limit.min(max));
    let found = match found {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(%err, "CHATHISTORY TARGETS failed");
            fail(
                ctx,
                "MESSAGE_ERROR",
                &["TARGETS"],
                "Targets could not be retrieved",
            );
            return;
        }
    };
    let id = format!("ch{}", NEXT_BATCH.fetch_add(1, Ordering::Relaxed));
    let server = ctx.server().to_owned();
    ctx.send(
        Message::new("BATCH")
            .with_source(server.clone())
            .with_param(format!("+{id}"))
            .with_param("draft/chathistory-targets"),
    );
    for activity in found {
        let name = match &activity.target {
            HistoryTarget::Channel(name) => name.clone(),
            HistoryTarget::Conversation(..) => {
                let Some(peer) = activity.target.peer_of(me) else {
                    continue;
                };
                ctx.core
                    .state
                    .user(peer)
                    .map(|u| u.nick.to_string())
                    .unwrap_or_else(|| peer.to_string())
            }
        };
        let line = Message::new("CHATHISTORY")
            .with_source(server.clone())
            .with_param("TARGETS")
            .with_param(name)
            .with_param(iso8601(activity.latest_ms))
            .to_bytes();
        ctx.outbox.lines.push(prepend_tag(&line, "batch", &id));
    }
    ctx.send(
        Message::new("BATCH")
            .with_source(server)
            .with_param(format!("-{id}")),
    );
}
