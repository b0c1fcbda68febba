//! Channel commands: JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK.

use latticed_crdt::{ChannelView, LeaveCause, OpBody, Uid};
use latticed_proto::{is_valid_channel, numeric, Message};

use super::Ctx;
use crate::access::{has_invex, is_banned, is_op};
use crate::caps::Caps;

/// Default flags of a new channel, as most networks set them.
const NEW_CHANNEL_FLAGS: &[char] = &['n', 't'];

fn me(ctx: &Ctx<'_>) -> Option<Uid> {
    ctx.conn.uid
}

/// Whether this user may see hidden things (secret channels, invisible users).
pub fn sees_hidden(ctx: &Ctx<'_>) -> bool {
    me(ctx)
        .and_then(|u| ctx.core.local.get(&u))
        .and_then(|l| l.oper.as_ref())
        .is_some_and(|o| o.see_hidden)
}

/// `JOIN #a,#b [key,key]` and `JOIN 0`.
pub fn join(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = me(ctx) else { return };
    let Some(targets) = msg.params.first().filter(|t| !t.is_empty()) else {
        ctx.need_more_params("JOIN");
        return;
    };
    if targets == "0" {
        let channels: Vec<String> = ctx
            .core
            .state
            .channels_of(me)
            .map(|c| c.name.clone())
            .collect();
        for channel in channels {
            leave(ctx, &channel, me, LeaveCause::Part { reason: None });
        }
        return;
    }
    let keys: Vec<&str> = msg
        .params
        .get(1)
        .map(|k| k.split(',').collect())
        .unwrap_or_default();
    for (i, name) in targets.split(',').enumerate() {
        join_one(ctx, me, name, keys.get(i).copied());
    }
}

fn join_one(ctx: &mut Ctx<'_>, me: Uid, name: &str, key: Option<&str>) {
    if !is_valid_channel(name, "#", ctx.config.limits.channel_len) {
        ctx.numeric(numeric::ERR_NOSUCHCHANNEL, [name, "No such channel"]);
        return;
    }
    let existing = ctx.core.state.channel(name);
    if let Some(chan) = existing {
        if chan.member(me).is_some() {
            return;
        }
        if let Some(err) = join_refusal(ctx, chan, me, key) {
            let display = chan.name.clone();
            ctx.numeric(err.0, [display.as_str(), err.1]);
            return;
        }
    }
    if ctx.core.state.channels_of(me).count() >= ctx.config.limits.max_channels_per_user {
        ctx.numeric(
            numeric::ERR_TOOMANYCHANNELS,
            [name, "You have joined too many channels"],
        );
        return;
    }
    let created = existing.is_none();
    let folded = ctx.fold(name);
    ctx.core.invites.remove(&(folded, me));
    ctx.core.commit(
        OpBody::Join {
            channel: name.to_owned(),
            uid: me,
        },
        ctx.outbox,
    );
    if created {
        ctx.core.commit_quiet(OpBody::SetPrefix {
            channel: name.to_owned(),
            uid: me,
            mode: 'o',
            on: true,
            observed: Vec::new(),
            by: me,
        });
        for flag in NEW_CHANNEL_FLAGS {
            ctx.core.commit_quiet(OpBody::SetChannelFlag {
                channel: name.to_owned(),
                mode: *flag,
                on: true,
                by: me,
            });
        }
    }
    send_topic(ctx, name, false);
    send_names(ctx, name);
}

/// Why `me` may not join `chan`, as (numeric, text).
fn join_refusal(
    ctx: &Ctx<'_>,
    chan: &ChannelView,
    me: Uid,
    key: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let invited = ctx.core.invites.contains(&(ctx.fold(&chan.name), me));
    if let Some(required) = chan.key() {
        if key != Some(required) {
            return Some((numeric::ERR_BADCHANNELKEY, "Cannot join channel (+k)"));
        }
    }
    if let Some(limit) = chan.limit() {
        if chan.member_count() >= limit as usize && !invited {
            return Some((numeric::ERR_CHANNELISFULL, "Cannot join channel (+l)"));
        }
    }
    if chan.flag('i') && !invited && !has_invex(ctx.core, chan, me) {
        return Some((numeric::ERR_INVITEONLYCHAN, "Cannot join channel (+i)"));
    }
    if is_banned(ctx.core, chan, me) && !invited {
        return Some((numeric::ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"));
    }
    None
}

/// Remove `uid` from `channel` (the op path resets the channel if that emptied it).
pub fn leave(ctx: &mut Ctx<'_>, channel: &str, uid: Uid, cause: LeaveCause) {
    let observed = ctx.core.state.member_dots(channel, uid);
    ctx.core.commit(
        OpBody::Leave {
            channel: channel.to_owned(),
            uid,
            observed,
            cause,
        },
        ctx.outbox,
    );
}

/// `PART #a,#b [:reason]`.
pub fn part(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = me(ctx) else { return };
    let Some(targets) = msg.params.first().filter(|t| !t.is_empty()) else {
        ctx.need_more_params("PART");
        return;
    };
    let reason = msg.params.get(1).filter(|r| !r.is_empty()).map(|r| {
        r.chars()
            .take(ctx.config.limits.kick_len)
            .collect::<String>()
    });
    for name in targets.split(',') {
        match ctx.core.state.channel(name) {
            None => ctx.numeric(numeric::ERR_NOSUCHCHANNEL, [name, "No such channel"]),
            Some(chan) if chan.member(me).is_none() => {
                let display = chan.name.clone();
                ctx.numeric(
                    numeric::ERR_NOTONCHANNEL,
                    [display.as_str(), "You're not on that channel"],
                );
            }
            Some(_) => leave(
                ctx,
                name,
                me,
                LeaveCause::Part {
                    reason: reason.clone(),
                },
            ),
        }
    }
}

/// `TOPIC #chan [:text]`.
pub fn topic(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = me(ctx) else { return };
    let Some(name) = msg.params.first() else {
        ctx.need_more_params("TOPIC");
        return;
    };
    let Some(chan) = ctx.core.state.channel(name) else {
        ctx.numeric(
            numeric::ERR_NOSUCHCHANNEL,
            [name.as_str(), "No such channel"],
        );
        return;
    };
    let display = chan.name.clone();
    let member = chan.member(me).is_some();
    let Some(text) = msg.params.get(1) else {
        if !member && chan.flag('s') && !sees_hidden(ctx) {
            ctx.numeric(
                numeric::ERR_NOTONCHANNEL,
                [display.as_str(), "You're not on that channel"],
            );
            return;
        }
        send_topic(ctx, &display, true);
        return;
    };
    if !member {
        ctx.numeric(
            numeric::ERR_NOTONCHANNEL,
            [display.as_str(), "You're not on that channel"],
        );
        return;
    }
    if chan.flag('t') && !is_op(chan, me) {
        ctx.numeric(
            numeric::ERR_CHANOPRIVSNEEDED,
            [display.as_str(), "You're not a channel operator"],
        );
        return;
    }
    let text: String = text.chars().take(ctx.config.limits.topic_len).collect();
    let setter = ctx.core.mask_of(me).unwrap_or_default();
    ctx.core.commit(
        OpBody::SetTopic {
            channel: display,
            topic: text,
            setter,
            by: me,
        },
        ctx.outbox,
    );
}

/// 332/333 for a channel's topic; 331 when there is none and `explicit` (a TOPIC query).
fn send_topic(ctx: &mut Ctx<'_>, name: &str, explicit: bool) {
    let Some(chan) = ctx.core.state.channel(name) else {
        return;
    };
    let display = chan.name.clone();
    match chan.topic().filter(|t| !t.text.is_empty()).cloned() {
        Some(topic) => {
            ctx.numeric(numeric::RPL_TOPIC, [display.clone(), topic.text]);
            ctx.numeric(
                numeric::RPL_TOPICWHOTIME,
                [display, topic.setter, (topic.set_ms / 1000).to_string()],
            );
        }
        None if explicit => {
            ctx.numeric(numeric::RPL_NOTOPIC, [display.as_str(), "No topic is set"])
        }
        None => {}
    }
}

/// `NAMES [#chan]`.
pub fn names(ctx: &mut Ctx<'_>, msg: &Message) {
    match msg.params.first().filter(|t| !t.is_empty()) {
        Some(targets) => {
            for name in targets.split(',') {
                send_names(ctx, name);
            }
        }
        None => ctx.numeric(numeric::RPL_ENDOFNAMES, ["*", "End of /NAMES list"]),
    }
}

/// 353 lines and 366 for a channel, honouring multi-prefix, userhost-in-names, +s and +i.
pub fn send_names(ctx: &mut Ctx<'_>, name: &str) {
    let me = me(ctx);
    let hidden_ok = sees_hidden(ctx);
    let multi = ctx.has_cap(Caps::MULTI_PREFIX);
    let userhost = ctx.has_cap(Caps::USERHOST_IN_NAMES);
    let Some(chan) = ctx.core.state.channel(name) else {
        ctx.numeric(numeric::RPL_ENDOFNAMES, [name, "End of /NAMES list"]);
        return;
    };
    let display = chan.name.clone();
    let is_member = me.is_some_and(|m| chan.member(m).is_some());
    if chan.flag('s') && !is_member && !hidden_ok {
        ctx.numeric(
            numeric::RPL_ENDOFNAMES,
            [display.as_str(), "End of /NAMES list"],
        );
        return;
    }
    let symbol = if chan.flag('s') { "@" } else { "=" };
    let mut entries: Vec<String> = Vec::with_capacity(chan.member_count());
    for (uid, prefixes) in chan.members() {
        let Some(user) = ctx
            .core
            .state
            .user(uid)
            .filter(|_| ctx.core.is_visible(uid))
        else {
            continue;
        };
        if !is_member && !hidden_ok && user.modes.contains(&'i') {
            continue;
        }
        let mut entry = if multi {
            prefixes.all_symbols()
        } else {
            prefixes
                .highest_symbol()
                .map(String::from)
                .unwrap_or_default()
        };
        if userhost {
            entry.push_str(&crate::tenant::user_mask(&user));
        } else {
            entry.push_str(&user.nick);
        }
        entries.push(entry);
    }
    let nick_len = ctx.nick().len();
    let budget = 400usize.saturating_sub(display.len() + nick_len + ctx.server().len());
    let mut line = String::new();
    for entry in entries {
        if !line.is_empty() && line.len() + entry.len() + 1 > budget {
            let full = std::mem::take(&mut line);
            ctx.numeric(
                numeric::RPL_NAMREPLY,
                [symbol.to_owned(), display.clone(), full],
            );
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&entry);
    }
    if !line.is_empty() {
        ctx.numeric(
            numeric::RPL_NAMREPLY,
            [symbol.to_owned(), display.clone(), line],
        );
    }
    ctx.numeric(
        numeric::RPL_ENDOFNAMES,
        [display.as_str(), "End of /NAMES list"],
    );
}

/// `LIST [#a,#b] [>n|<n]`.
pub fn list(ctx: &mut Ctx<'_>, msg: &Message) {
    let me = me(ctx);
    let hidden_ok = sees_hidden(ctx);
    let mut wanted: Option<Vec<String>> = None;
    let mut min_users = 0usize;
    let mut max_users = usize::MAX;
    for param in &msg.params {
        for item in param.split(',').filter(|s| !s.is_empty()) {
            if let Some(n) = item.strip_prefix('>') {
                min_users = n.parse::<usize>().map(|n| n + 1).unwrap_or(min_users);
            } else if let Some(n) = item.strip_prefix('<') {
                max_users = n
                    .parse::<usize>()
                    .map(|n| n.saturating_sub(1))
                    .unwrap_or(max_users);
            } else {
                wanted.get_or_insert_with(Vec::new).push(ctx.fold(item));
            }
        }
    }
    ctx.numeric(numeric::RPL_LISTSTART, ["Channel", "Users  Name"]);
    let cm = ctx.core.casemapping();
    let mut rows = Vec::new();
    for chan in ctx.core.state.channels() {
        if let Some(wanted) = &wanted {
            if !wanted.contains(&cm.fold(&chan.name)) {
                continue;
            }
        }
        let is_member = me.is_some_and(|m| chan.member(m).is_some());
        if chan.flag('s') && !is_member && !hidden_ok {
            continue;
        }
        let count = ctx.core.visible_member_count(chan);
        if count == 0 || count < min_users || count > max_users {
            continue;
        }
        let topic = chan.topic().map(|t| t.text.clone()).unwrap_or_default();
        let modes = chan.flags();
        rows.push((chan.name.clone(), count, format!("[+{modes}] {topic}")));
    }
    for (name, count, text) in rows {
        ctx.numeric(numeric::RPL_LIST, [name, count.to_string(), text]);
    }
    ctx.numeric(numeric::RPL_LISTEND, ["End of /LIST"]);
}

/// `INVITE nick #chan`.
pub fn invite(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = me(ctx) else { return };
    if msg.params.len() < 2 {
        ctx.need_more_params("INVITE");
        return;
    }
    let (nick, name) = (&msg.params[0], &msg.params[1]);
    let Some(target) = ctx.core.visible_uid_by_nick(nick) else {
        ctx.numeric(
            numeric::ERR_NOSUCHNICK,
            [nick.as_str(), "No such nick/channel"],
        );
        return;
    };
    let display;
    if let Some(chan) = ctx.core.state.channel(name) {
        display = chan.name.clone();
        if chan.member(me).is_none() {
            ctx.numeric(
                numeric::ERR_NOTONCHANNEL,
                [display.as_str(), "You're not on that channel"],
            );
            return;
        }
        if chan.flag('i') && !is_op(chan, me) {
            ctx.numeric(
                numeric::ERR_CHANOPRIVSNEEDED,
                [display.as_str(), "You're not a channel operator"],
            );
            return;
        }
        if chan.member(target).is_some() {
            ctx.numeric(
                numeric::ERR_USERONCHANNEL,
                [nick.as_str(), display.as_str(), "is already on channel"],
            );
            return;
        }
    } else {
        ctx.numeric(
            numeric::ERR_NOSUCHCHANNEL,
            [name.as_str(), "No such channel"],
        );
        return;
    }
    let target_nick = ctx
        .core
        .state
        .user(target)
        .map(|u| u.nick.to_string())
        .unwrap_or_else(|| nick.clone());
    let folded = ctx.fold(&display);
    ctx.core.invites.insert((folded, target));
    ctx.numeric(
        numeric::RPL_INVITING,
        [target_nick.clone(), display.clone()],
    );
    let source = ctx.core.mask_of(me).unwrap_or_default();
    let line = Message::new("INVITE")
        .with_source(source)
        .with_param(target_nick)
        .with_param(display.clone());
    let notify: Vec<Uid> = ctx
        .core
        .state
        .channel(&display)
        .map(|chan| {
            chan.members()
                .filter(|(m, p)| *m != me && *m != target && p.has('o'))
                .map(|(m, _)| m)
                .filter(|m| ctx.core.caps_of(*m).has(Caps::INVITE_NOTIFY))
                .collect()
        })
        .unwrap_or_default();
    let now = crate::time::unix_now_ms();
    crate::render::send_to(
        ctx.core,
        ctx.outbox,
        std::iter::once(target).chain(notify),
        line,
        now,
    );
}

/// `KICK #chan nick[,nick] [:reason]`.
pub fn kick(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = me(ctx) else { return };
    if msg.params.len() < 2 {
        ctx.need_more_params("KICK");
        return;
    }
    let name = &msg.params[0];
    let Some(chan) = ctx.core.state.channel(name) else {
        ctx.numeric(
            numeric::ERR_NOSUCHCHANNEL,
            [name.as_str(), "No such channel"],
        );
        return;
    };
    let display = chan.name.clone();
    if chan.member(me).is_none() {
        ctx.numeric(
            numeric::ERR_NOTONCHANNEL,
            [display.as_str(), "You're not on that channel"],
        );
        return;
    }
    if !is_op(chan, me) {
        ctx.numeric(
            numeric::ERR_CHANOPRIVSNEEDED,
            [display.as_str(), "You're not a channel operator"],
        );
        return;
    }
    let reason: String = msg
        .params
        .get(2)
        .filter(|r| !r.is_empty())
        .cloned()
        .unwrap_or_else(|| ctx.nick())
        .chars()
        .take(ctx.config.limits.kick_len)
        .collect();
    for nick in msg.params[1].split(',') {
        let Some(target) = ctx.core.visible_uid_by_nick(nick) else {
            ctx.numeric(numeric::ERR_NOSUCHNICK, [nick, "No such nick/channel"]);
            continue;
        };
        let on_channel = ctx
            .core
            .state
            .channel(&display)
            .is_some_and(|c| c.member(target).is_some());
        if !on_channel {
            ctx.numeric(
                numeric::ERR_USERNOTINCHANNEL,
                [nick, display.as_str(), "They aren't on that channel"],
            );
            continue;
        }
        leave(
            ctx,
            &display,
            target,
            LeaveCause::Kick {
                by: me,
                reason: reason.clone(),
            },
        );
    }
}

/// The creation time of a channel as RPL_CREATIONTIME wants it (Unix seconds).
pub fn created_secs(chan: &ChannelView) -> String {
    (chan.created_ms / 1000).to_string()
}
