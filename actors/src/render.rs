//! Turning applied ops into the lines local clients see.
//!
//! Rendering works from the op and the [`Change`]s its application produced, never from the command
//! that caused it, so an op from another node renders exactly like a local one.

use std::collections::HashSet;

use latticed_crdt::{Change, LeaveCause, MessageKind, MessageTarget, Op, OpBody, Uid};
use latticed_proto::{numeric, Message};

use crate::caps::Caps;
use crate::outgoing::{message_line, Outgoing};
use crate::tenant::{Core, LocalUser, Outbox};

/// Deliver everything `op` made visible to the local clients it concerns.
pub fn render(core: &mut Core, op: &Op, changes: &[Change], outbox: &mut Outbox) {
    if core.swallow_hidden(op, changes) {
        return;
    }
    if let OpBody::Message { .. } = &op.body {
        deliver_message(core, op, outbox);
        return;
    }
    for change in changes {
        render_change(core, op, change, outbox);
    }
}

fn render_change(core: &mut Core, op: &Op, change: &Change, outbox: &mut Outbox) {
    match change {
        Change::UserArrived { uid } => {
            if let Some(user) = core.state.user(*uid) {
                let mask = format!("{}!{}@{}", user.nick, user.user, user.host);
                notify_monitors(core, &user.nick.clone(), Some(&mask), outbox);
            }
        }
        Change::UserDeparted {
            uid,
            nick,
            user,
            host,
            channels,
            reason,
        } => {
            let mut recipients = HashSet::new();
            for name in channels {
                if let Some(channel) = core.state.channel(name) {
                    recipients.extend(channel.members().map(|(m, _)| m));
                }
            }
            let msg = Message::new("QUIT")
                .with_source(format!("{nick}!{user}@{host}"))
                .with_param(reason.clone());
            send_to(
                core,
                outbox,
                recipients.into_iter().filter(|m| m != uid),
                msg,
                op.wall_ms,
            );
            forget_monitor(core, *uid);
            core.invites.retain(|(_, invitee)| invitee != uid);
            notify_monitors(core, nick, None, outbox);
        }
        Change::NickChanged { uid, old, new } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let msg = Message::new("NICK")
                .with_source(format!("{old}!{}@{}", user.user, user.host))
                .with_param(new.clone());
            let mask = format!("{new}!{}@{}", user.user, user.host);
            let mut recipients = core.local_neighbours(*uid);
            recipients.push(*uid);
            send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
            if !core.casemapping().eq(old, new) {
                notify_monitors(core, old, None, outbox);
                notify_monitors(core, new, Some(&mask), outbox);
            }
        }
        Change::AwayChanged { uid } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let mut msg = Message::new("AWAY").with_source(crate::tenant::user_mask(&user));
            if let Some(text) = &user.away {
                msg = msg.with_param(text.to_string());
            }
            let recipients = with_cap(core, audience(core, *uid, false), Caps::AWAY_NOTIFY);
            send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
        }
        Change::RealnameChanged { uid } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let msg = Message::new("SETNAME")
                .with_source(crate::tenant::user_mask(&user))
                .with_param(user.realname.to_string());
            let recipients = with_cap(core, audience(core, *uid, true), Caps::SETNAME);
            send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
        }
        Change::HostChanged {
            uid,
            old_user,
            old_host,
        } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let msg = Message::new("CHGHOST")
                .with_source(format!("{}!{old_user}@{old_host}", user.nick))
                .with_param(user.user.to_string())
                .with_param(user.host.to_string());
            let recipients = with_cap(core, audience(core, *uid, true), Caps::CHGHOST);
            send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
        }
        Change::AccountChanged { uid } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let msg = Message::new("ACCOUNT")
                .with_source(crate::tenant::user_mask(&user))
                .with_param(user.account.as_deref().unwrap_or("*"));
            let recipients = with_cap(core, audience(core, *uid, false), Caps::ACCOUNT_NOTIFY);
            send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
        }
        Change::UserModeChanged { uid, mode, on } => {
            let Some(user) = core.state.user(*uid) else {
                return;
            };
            let msg = Message::new("MODE")
                .with_source(user.nick.to_string())
                .with_param(user.nick.to_string())
                .with_param(format!("{}{mode}", if *on { '+' } else { '-' }));
            send_to(core, outbox, std::iter::once(*uid), msg, op.wall_ms);
        }
        Change::Joined { channel, uid } => render_join(core, op, channel, *uid, outbox),
        Change::Left { channel, uid } => render_leave(core, op, channel, *uid, outbox),
        Change::PrefixChanged {
            channel,
            uid,
            mode,
            on,
        } => {
            let Some(target) = core.state.user(*uid).map(|u| u.nick.to_string()) else {
                return;
            };
            render_mode(core, op, channel, &[(*on, *mode, Some(target))], outbox);
        }
        Change::ChannelFlagChanged { channel, mode, on } => {
            render_mode(core, op, channel, &[(*on, *mode, None)], outbox);
        }
        Change::KeyChanged { channel } => {
            let key = core
                .state
                .channel(channel)
                .and_then(|c| c.key().map(str::to_owned));
            let change = match key {
                Some(k) => (true, 'k', Some(k)),
                None => (false, 'k', None),
            };
            render_mode(core, op, channel, &[change], outbox);
        }
        Change::LimitChanged { channel } => {
            let limit = core.state.channel(channel).and_then(|c| c.limit());
            let change = match limit {
                Some(l) => (true, 'l', Some(l.to_string())),
                None => (false, 'l', None),
            };
            render_mode(core, op, channel, &[change], outbox);
        }
        Change::ListChanged {
            channel,
            kind,
            mask,
            added,
        } => {
            let letter = crate::modes::list_letter(*kind);
            render_mode(
                core,
                op,
                channel,
                &[(*added, letter, Some(mask.clone()))],
                outbox,
            );
        }
        Change::TopicChanged { channel } => {
            let OpBody::SetTopic { setter, .. } = &op.body else {
                return;
            };
            let Some(chan) = core.state.channel(channel) else {
                return;
            };
            let text = chan.topic().map(|t| t.text.clone()).unwrap_or_default();
            let msg = Message::new("TOPIC")
                .with_source(setter.clone())
                .with_param(chan.name.clone())
                .with_param(text);
            let members: Vec<Uid> = chan.members().map(|(m, _)| m).collect();
            send_to(core, outbox, members.into_iter(), msg, op.wall_ms);
        }
    }
}

fn render_join(core: &mut Core, op: &Op, channel: &str, uid: Uid, outbox: &mut Outbox) {
    let Some(user) = core.state.user(uid) else {
        return;
    };
    let Some(chan) = core.state.channel(channel) else {
        return;
    };
    let mask = crate::tenant::user_mask(&user);
    let account = user.account.clone();
    let away = user.away.clone();
    let plain = Message::new("JOIN")
        .with_source(mask.clone())
        .with_param(chan.name.clone());
    let extended = plain
        .clone()
        .with_param(account.as_deref().unwrap_or("*"))
        .with_param(user.realname.to_string());
    let members: Vec<Uid> = chan.members().map(|(m, _)| m).collect();
    let mut plain = Outgoing::new(plain, op.wall_ms).account(account.as_deref());
    let mut extended = Outgoing::new(extended, op.wall_ms).account(account.as_deref());
    let mut away_line = away.map(|text| {
        Outgoing::new(
            Message::new("AWAY").with_source(mask).with_param(&*text),
            op.wall_ms,
        )
    });
    for member in members {
        let caps = core.caps_of(member);
        let line = if caps.has(Caps::EXTENDED_JOIN) {
            extended.for_caps(caps)
        } else {
            plain.for_caps(caps)
        };
        core.deliver(outbox, member, line);
        if member != uid && caps.has(Caps::AWAY_NOTIFY) {
            if let Some(away) = &mut away_line {
                core.deliver(outbox, member, away.for_caps(caps));
            }
        }
    }
}

fn render_leave(core: &mut Core, op: &Op, channel: &str, uid: Uid, outbox: &mut Outbox) {
    let OpBody::Leave { cause, .. } = &op.body else {
        return;
    };
    let Some(user) = core.state.user(uid) else {
        return;
    };
    let mut recipients: Vec<Uid> = core
        .state
        .channel(channel)
        .map(|c| c.members().map(|(m, _)| m).collect())
        .unwrap_or_default();
    recipients.push(uid);
    let display = core
        .state
        .channel(channel)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| channel.to_owned());
    let msg = match cause {
        LeaveCause::Part { reason } => {
            let msg = Message::new("PART")
                .with_source(crate::tenant::user_mask(&user))
                .with_param(display);
            match reason {
                Some(r) => msg.with_param(r.clone()),
                None => msg,
            }
        }
        LeaveCause::Kick { by, reason } => {
            let source = core
                .mask_of(*by)
                .unwrap_or_else(|| core.server_name.clone());
            Message::new("KICK")
                .with_source(source)
                .with_param(display)
                .with_param(user.nick.to_string())
                .with_param(reason.clone())
        }
    };
    send_to(core, outbox, recipients.into_iter(), msg, op.wall_ms);
}

/// One MODE line for several changes to a channel, sent to its local members. Each change is
/// `(adding, letter, argument)`. The source is the op's `by` user, or the server.
pub fn render_mode(
    core: &mut Core,
    op: &Op,
    channel: &str,
    changes: &[(bool, char, Option<String>)],
    outbox: &mut Outbox,
) {
    let Some(chan) = core.state.channel(channel) else {
        return;
    };
    let source = op_author(&op.body)
        .and_then(|by| core.mask_of(by))
        .unwrap_or_else(|| core.server_name.clone());
    let msg = crate::modes::mode_message(source, chan.name.clone(), changes);
    let members: Vec<Uid> = chan.members().map(|(m, _)| m).collect();
    send_to(core, outbox, members.into_iter(), msg, op.wall_ms);
}

fn op_author(body: &OpBody) -> Option<Uid> {
    match body {
        OpBody::SetPrefix { by, .. }
        | OpBody::SetChannelFlag { by, .. }
        | OpBody::SetKey { by, .. }
        | OpBody::SetLimit { by, .. }
        | OpBody::SetTopic { by, .. }
        | OpBody::ListAdd { by, .. }
        | OpBody::ListRemove { by, .. } => Some(*by),
        _ => None,
    }
}

/// Send `msg` (with `time` for server-time recipients) to every listed local user.
pub fn send_to(
    core: &Core,
    outbox: &mut Outbox,
    recipients: impl Iterator<Item = Uid>,
    msg: Message,
    wall_ms: u64,
) {
    let mut out = Outgoing::new(msg, wall_ms);
    for uid in recipients {
        let Some(local) = core.local.get(&uid) else {
            continue;
        };
        let line = out.for_caps(local.caps);
        deliver_local(core, outbox, uid, local, line);
    }
}

/// [`Core::deliver`] to a local user already looked up: into the outbox if `uid` issued the
/// command being handled, else onto its connection.
fn deliver_local(
    core: &Core,
    outbox: &mut Outbox,
    uid: Uid,
    local: &LocalUser,
    line: bytes::Bytes,
) {
    if outbox.issuer == Some(uid) {
        outbox.lines.push(line);
    } else {
        local.queue(line, core.metrics());
    }
}

/// Who hears about a change to `uid`'s presence: local users sharing a channel with it, local
/// users MONITORing it with extended-monitor, and (if `including_self`) the user itself.
fn audience(core: &Core, uid: Uid, including_self: bool) -> Vec<Uid> {
    let mut out = core.local_neighbours(uid);
    if including_self {
        out.push(uid);
    }
    if let Some(user) = core.state.user(uid) {
        let key = core.casemapping().fold(&user.nick);
        if let Some(watchers) = core.monitors.get(&key) {
            for watcher in watchers {
                if *watcher != uid
                    && !out.contains(watcher)
                    && core.caps_of(*watcher).has(Caps::EXTENDED_MONITOR)
                {
                    out.push(*watcher);
                }
            }
        }
    }
    out
}

fn with_cap(core: &Core, uids: Vec<Uid>, cap: Caps) -> Vec<Uid> {
    uids.into_iter()
        .filter(|u| core.caps_of(*u).has(cap))
        .collect()
}

/// Deliver a PRIVMSG / NOTICE / TAGMSG op: serialised once per capability variant, queued to each
/// local recipient, echoed to a local sender with echo-message.
pub fn deliver_message(core: &Core, op: &Op, outbox: &mut Outbox) {
    let OpBody::Message {
        msgid,
        from,
        source,
        target,
        kind,
        text,
        tags,
    } = &op.body
    else {
        return;
    };
    let Some(sender) = core.state.user(*from) else {
        return;
    };
    let counter = match kind {
        MessageKind::Privmsg => &core.metrics().out_privmsg,
        MessageKind::Notice => &core.metrics().out_notice,
        MessageKind::Tagmsg => &core.metrics().out_tagmsg,
    };
    // The members a channel message reaches (those with the STATUSMSG prefix it names), or the
    // one user a private message is for.
    let (target_name, members) = match target {
        MessageTarget::Channel(name) => {
            let bare = name.trim_start_matches(['@', '+']);
            let Some(chan) = core.state.channel(bare) else {
                return;
            };
            let status = &name[..name.len() - bare.len()];
            (format!("{status}{}", chan.name), Some((chan, status)))
        }
        MessageTarget::User(uid) => {
            let Some(target) = core.state.user(*uid) else {
                return;
            };
            (target.nick.to_string(), None)
        }
    };
    let mut out = message_line(*kind, source, target_name, text, *msgid, tags, op.wall_ms)
        .account(sender.account.as_deref())
        .bot(sender.modes.contains(&'B'));
    let to_self = matches!(target, MessageTarget::User(uid) if uid == from);
    let mut delivered = 0u64;
    let mut deliver = |uid: Uid, local: Option<&LocalUser>| {
        if uid == *from && !to_self {
            return;
        }
        let caps = local.map(|l| l.caps).unwrap_or_default();
        if *kind == MessageKind::Tagmsg && !caps.has(Caps::MESSAGE_TAGS) {
            return;
        }
        let line = out.for_caps(caps);
        match local {
            // A message to oneself arrives as a delivery, outside the command's reply; only the
            // echo (below) answers the command, so only the echo carries a label.
            Some(local) if to_self => local.queue(line, core.metrics()),
            Some(local) => deliver_local(core, outbox, uid, local, line),
            None => core.deliver(outbox, uid, line),
        }
        delivered += 1;
    };
    if let Some((chan, status)) = members {
        for (uid, prefixes) in chan.members() {
            if !status_allows(status, prefixes) {
                continue;
            }
            if let Some(local) = core.local.get(&uid) {
                deliver(uid, Some(local));
            }
        }
    } else if let MessageTarget::User(uid) = target {
        deliver(*uid, core.local.get(uid));
    }
    counter.inc_by(delivered);
    if matches!(target, MessageTarget::Channel(_)) {
        core.metrics().fanout.observe(delivered as f64);
    }
    let sender_caps = core.caps_of(*from);
    if sender_caps.has(Caps::ECHO_MESSAGE)
        && (*kind != MessageKind::Tagmsg || sender_caps.has(Caps::MESSAGE_TAGS))
    {
        core.deliver(outbox, *from, out.for_caps(sender_caps));
    }
}

/// STATUSMSG: `@#chan` reaches ops, `+#chan` reaches voiced users and ops.
fn status_allows(status: &str, prefixes: &latticed_crdt::Prefixes) -> bool {
    match status.chars().last() {
        None => true,
        Some('@') => prefixes.has('o'),
        Some(_) => prefixes.has('o') || prefixes.has('v'),
    }
}

pub(crate) fn notify_monitors(
    core: &Core,
    nick: &str,
    online_mask: Option<&str>,
    outbox: &mut Outbox,
) {
    let key = core.casemapping().fold(nick);
    let Some(watchers) = core.monitors.get(&key) else {
        return;
    };
    for watcher in watchers {
        let Some(me) = core.state.user(*watcher).map(|u| u.nick.to_string()) else {
            continue;
        };
        let msg = match online_mask {
            Some(mask) => Message::new(numeric::RPL_MONONLINE)
                .with_source(core.server_name.clone())
                .with_param(me)
                .with_param(mask.to_owned()),
            None => Message::new(numeric::RPL_MONOFFLINE)
                .with_source(core.server_name.clone())
                .with_param(me)
                .with_param(nick.to_owned()),
        };
        core.deliver(outbox, *watcher, msg.to_bytes());
    }
}

/// Drop every MONITOR entry of a departed user.
fn forget_monitor(core: &mut Core, uid: Uid) {
    let Some(list) = core.monitor_lists.remove(&uid) else {
        return;
    };
    for nick in list {
        let key = core.state.casemapping().fold(&nick);
        if let Some(set) = core.monitors.get_mut(&key) {
            set.remove(&uid);
            if set.is_empty() {
                core.monitors.remove(&key);
            }
        }
    }
}
