//! PRIVMSG, NOTICE and TAGMSG to channels (with STATUSMSG prefixes) and users.

use std::time::Instant;

use latticed_crdt::{MessageKind, MessageTarget, OpBody, Uid};
use latticed_proto::{numeric, Message};

use super::Ctx;
use crate::access::is_banned;

/// `PRIVMSG target[,target] :text`.
pub fn privmsg(ctx: &mut Ctx<'_>, msg: &Message) {
    send_message(ctx, msg, MessageKind::Privmsg);
}

/// `NOTICE target[,target] :text`: like PRIVMSG, but never answered with an error.
pub fn notice(ctx: &mut Ctx<'_>, msg: &Message) {
    send_message(ctx, msg, MessageKind::Notice);
}

/// `TAGMSG target[,target]`: only tags, delivered to message-tags clients.
pub fn tagmsg(ctx: &mut Ctx<'_>, msg: &Message) {
    send_message(ctx, msg, MessageKind::Tagmsg);
}

fn command_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Privmsg => "PRIVMSG",
        MessageKind::Notice => "NOTICE",
        MessageKind::Tagmsg => "TAGMSG",
    }
}

fn send_message(ctx: &mut Ctx<'_>, msg: &Message, kind: MessageKind) {
    let Some(me) = ctx.conn.uid else { return };
    let quiet = kind == MessageKind::Notice;
    let command = command_name(kind);
    let Some(targets) = msg.params.first().filter(|t| !t.is_empty()) else {
        if !quiet {
            ctx.numeric(
                numeric::ERR_NORECIPIENT,
                [format!("No recipient given ({command})")],
            );
        }
        return;
    };
    let text = msg.params.get(1).cloned().unwrap_or_default();
    if kind != MessageKind::Tagmsg && text.is_empty() {
        if !quiet {
            ctx.numeric(numeric::ERR_NOTEXTTOSEND, ["No text to send"]);
        }
        return;
    }
    let client_tags: Vec<(String, Option<String>)> = msg
        .tags
        .iter()
        .filter(|t| t.key.starts_with('+'))
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    if kind == MessageKind::Tagmsg && client_tags.is_empty() {
        return;
    }
    if let Some(local) = ctx.core.local.get_mut(&me) {
        if kind != MessageKind::Tagmsg {
            local.last_active = Instant::now();
        }
    }
    let max_targets = ctx.config.limits.max_targets.max(1);
    for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
        if i >= max_targets {
            if !quiet {
                ctx.numeric(numeric::ERR_TOOMANYTARGETS, [target, "Too many targets"]);
            }
            break;
        }
        let Some(resolved) = resolve_target(ctx, me, target, kind) else {
            continue;
        };
        let body = OpBody::Message {
            msgid: ctx.core.mint_msgid(),
            from: me,
            source: ctx.core.mask_of(me).unwrap_or_default(),
            target: resolved,
            kind,
            text: text.clone(),
            tags: client_tags.clone(),
        };
        ctx.core.commit(body, ctx.outbox);
    }
}

/// Check that `me` may send to `target`; answer the error (unless NOTICE) and return None if not.
fn resolve_target(
    ctx: &mut Ctx<'_>,
    me: Uid,
    target: &str,
    kind: MessageKind,
) -> Option<MessageTarget> {
    let quiet = kind == MessageKind::Notice;
    let bare = target.trim_start_matches(['@', '+']);
    if bare.starts_with('#') {
        let Some(chan) = ctx.core.state.channel(bare) else {
            if !quiet {
                ctx.numeric(numeric::ERR_NOSUCHCHANNEL, [target, "No such channel"]);
            }
            return None;
        };
        let prefixes = chan.member(me);
        let voiced = prefixes.is_some_and(|p| p.has('o') || p.has('v'));
        let reason = if prefixes.is_none() && chan.flag('n') {
            Some("Cannot send to channel (no external messages)")
        } else if chan.flag('m') && !voiced {
            Some("Cannot send to channel (+m)")
        } else if !voiced && is_banned(ctx.core, chan, me) {
            Some("Cannot send to channel (you're banned)")
        } else {
            None
        };
        if let Some(reason) = reason {
            let display = chan.name.clone();
            if !quiet {
                ctx.numeric(numeric::ERR_CANNOTSENDTOCHAN, [display.as_str(), reason]);
            }
            return None;
        }
        return Some(MessageTarget::Channel(target.to_owned()));
    }
    let Some(uid) = ctx.core.visible_uid_by_nick(target) else {
        if !quiet {
            ctx.numeric(numeric::ERR_NOSUCHNICK, [target, "No such nick/channel"]);
        }
        return None;
    };
    if kind == MessageKind::Privmsg {
        if let Some(user) = ctx.core.state.user(uid) {
            if let Some(away) = user.away.as_deref().map(str::to_owned) {
                let nick = user.nick.to_string();
                ctx.numeric(numeric::RPL_AWAY, [nick, away]);
            }
        }
    }
    Some(MessageTarget::User(uid))
}
