//! MODE for channels (flags, key, limit, prefixes, lists) and for the user's own modes.

use latticed_crdt::{ListKind, OpBody, Uid};
use latticed_proto::{normalize_mask, numeric, Message};

use super::channel::created_secs;
use super::Ctx;
use crate::access::is_op;
use crate::modes::{list_letter, mode_message, parse_channel_modes, ModeRequest, USER_SETTABLE};

/// Most mode changes applied from one MODE command (ISUPPORT MODES).
const MAX_CHANGES: usize = 20;

/// `MODE target [modestring [args...]]`.
pub fn mode(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(target) = msg.params.first() else {
        ctx.need_more_params("MODE");
        return;
    };
    if target.starts_with('#') {
        channel_mode(ctx, target, &msg.params[1..]);
    } else {
        user_mode(ctx, target, msg.params.get(1));
    }
}

fn channel_mode(ctx: &mut Ctx<'_>, name: &str, rest: &[String]) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(chan) = ctx.core.state.channel(name) else {
        ctx.numeric(numeric::ERR_NOSUCHCHANNEL, [name, "No such channel"]);
        return;
    };
    let display = chan.name.clone();
    let Some(modestring) = rest.first() else {
        let member = chan.member(me).is_some();
        let mut modes = String::from("+");
        modes.push_str(&chan.flags());
        let mut args = Vec::new();
        if let Some(key) = chan.key() {
            modes.push('k');
            args.push(if member { key.to_owned() } else { "*".into() });
        }
        if let Some(limit) = chan.limit() {
            modes.push('l');
            args.push(limit.to_string());
        }
        let created = created_secs(chan);
        let mut params = vec![display.clone(), modes];
        params.extend(args);
        ctx.numeric(numeric::RPL_CHANNELMODEIS, params);
        ctx.numeric(numeric::RPL_CREATIONTIME, [display, created]);
        return;
    };
    let requests = parse_channel_modes(modestring, &rest[1..]);
    let op = is_op(chan, me);
    let mut denied = false;
    let mut applied: Vec<(bool, char, Option<String>)> = Vec::new();
    let mut last_op = None;
    for request in requests.into_iter().take(MAX_CHANGES) {
        let body = match request {
            ModeRequest::ShowList { kind } => {
                show_list(ctx, &display, kind);
                continue;
            }
            ModeRequest::Unknown { letter } => {
                ctx.numeric(
                    numeric::ERR_UNKNOWNMODE,
                    [letter.to_string(), "is an unknown mode char to me".into()],
                );
                continue;
            }
            ModeRequest::MissingParam { letter } => {
                ctx.numeric(
                    numeric::ERR_NEEDMOREPARAMS,
                    [
                        "MODE".to_owned(),
                        format!("Not enough parameters for +{letter}"),
                    ],
                );
                continue;
            }
            _ if !op => {
                denied = true;
                continue;
            }
            other => match change_op(ctx, &display, me, other) {
                Some(body) => body,
                None => continue,
            },
        };
        let (op, changes) = ctx.core.commit_quiet(body);
        for change in changes {
            if let Some(shown) = shown_change(ctx, &change) {
                applied.push(shown);
            }
        }
        last_op = Some(op);
    }
    if denied {
        ctx.numeric(
            numeric::ERR_CHANOPRIVSNEEDED,
            [display.as_str(), "You're not a channel operator"],
        );
    }
    if let (Some(op), false) = (last_op, applied.is_empty()) {
        crate::render::render_mode(ctx.core, &op, &display, &applied, ctx.outbox);
    }
}

/// The op for one authorised mode request, or None (with an error sent) when it cannot apply.
fn change_op(ctx: &mut Ctx<'_>, channel: &str, me: Uid, request: ModeRequest) -> Option<OpBody> {
    let channel = channel.to_owned();
    match request {
        ModeRequest::Flag { on, letter } => Some(OpBody::SetChannelFlag {
            channel,
            mode: letter,
            on,
            by: me,
        }),
        ModeRequest::Key { on: true, key } => {
            let key = key.unwrap_or_default();
            if key.is_empty() || key.contains([' ', ',', ':']) || key.len() > 32 {
                ctx.numeric(
                    numeric::ERR_INVALIDMODEPARAM,
                    [channel.as_str(), "k", "*", "Invalid key"],
                );
                return None;
            }
            Some(OpBody::SetKey {
                channel,
                key: Some(key),
                by: me,
            })
        }
        ModeRequest::Key { on: false, .. } => Some(OpBody::SetKey {
            channel,
            key: None,
            by: me,
        }),
        ModeRequest::Limit { on: true, limit } => {
            let text = limit.unwrap_or_default();
            match text.parse::<u32>() {
                Ok(n) if n > 0 => Some(OpBody::SetLimit {
                    channel,
                    limit: Some(n),
                    by: me,
                }),
                _ => {
                    let shown = if text.is_empty() || text.contains(' ') {
                        "*"
                    } else {
                        text.as_str()
                    };
                    ctx.numeric(
                        numeric::ERR_INVALIDMODEPARAM,
                        [channel.as_str(), "l", shown, "Invalid limit"],
                    );
                    None
                }
            }
        }
        ModeRequest::Limit { on: false, .. } => Some(OpBody::SetLimit {
            channel,
            limit: None,
            by: me,
        }),
        ModeRequest::Prefix { on, letter, nick } => {
            let Some(target) = ctx.core.visible_uid_by_nick(&nick) else {
                ctx.numeric(
                    numeric::ERR_NOSUCHNICK,
                    [nick.as_str(), "No such nick/channel"],
                );
                return None;
            };
            let is_member = ctx
                .core
                .state
                .channel(&channel)
                .is_some_and(|c| c.member(target).is_some());
            if !is_member {
                ctx.numeric(
                    numeric::ERR_USERNOTINCHANNEL,
                    [
                        nick.as_str(),
                        channel.as_str(),
                        "They aren't on that channel",
                    ],
                );
                return None;
            }
            let observed = if on {
                Vec::new()
            } else {
                ctx.core.state.prefix_dots(&channel, target, letter)
            };
            Some(OpBody::SetPrefix {
                channel,
                uid: target,
                mode: letter,
                on,
                observed,
                by: me,
            })
        }
        ModeRequest::List { on, kind, mask } => list_change(ctx, channel, me, on, kind, &mask),
        ModeRequest::ShowList { .. }
        | ModeRequest::MissingParam { .. }
        | ModeRequest::Unknown { .. } => None,
    }
}

fn list_change(
    ctx: &mut Ctx<'_>,
    channel: String,
    me: Uid,
    on: bool,
    kind: ListKind,
    mask: &str,
) -> Option<OpBody> {
    let mask = normalize_mask(mask);
    let letter = list_letter(kind).to_string();
    if on {
        let count = ctx
            .core
            .state
            .channel(&channel)
            .map(|c| c.list(kind).count())
            .unwrap_or(0);
        if count >= ctx.config.limits.max_list_entries {
            ctx.numeric(
                numeric::ERR_BANLISTFULL,
                [channel.as_str(), letter.as_str(), "Channel list is full"],
            );
            return None;
        }
        let setter = ctx.core.mask_of(me).unwrap_or_default();
        Some(OpBody::ListAdd {
            channel,
            kind,
            mask,
            setter,
            by: me,
        })
    } else {
        let observed = ctx.core.state.list_dots(&channel, kind, &mask);
        if observed.is_empty() {
            return None;
        }
        Some(OpBody::ListRemove {
            channel,
            kind,
            mask,
            observed,
            by: me,
        })
    }
}

/// How a visible change appears in the combined MODE line, if it is a mode change.
fn shown_change(
    ctx: &Ctx<'_>,
    change: &latticed_crdt::Change,
) -> Option<(bool, char, Option<String>)> {
    use latticed_crdt::Change;
    match change {
        Change::ChannelFlagChanged { mode, on, .. } => Some((*on, *mode, None)),
        Change::KeyChanged { channel } => {
            let key = ctx
                .core
                .state
                .channel(channel)
                .and_then(|c| c.key().map(str::to_owned));
            Some(match key {
                Some(k) => (true, 'k', Some(k)),
                None => (false, 'k', None),
            })
        }
        Change::LimitChanged { channel } => {
            let limit = ctx.core.state.channel(channel).and_then(|c| c.limit());
            Some(match limit {
                Some(l) => (true, 'l', Some(l.to_string())),
                None => (false, 'l', None),
            })
        }
        Change::PrefixChanged { uid, mode, on, .. } => {
            let nick = ctx.core.state.user(*uid)?.nick.to_string();
            Some((*on, *mode, Some(nick)))
        }
        Change::ListChanged {
            kind, mask, added, ..
        } => Some((*added, list_letter(*kind), Some(mask.clone()))),
        _ => None,
    }
}

fn show_list(ctx: &mut Ctx<'_>, channel: &str, kind: ListKind) {
    let (item, end, end_text) = match kind {
        ListKind::Ban => (
            numeric::RPL_BANLIST,
            numeric::RPL_ENDOFBANLIST,
            "End of channel ban list",
        ),
        ListKind::Except => (
            numeric::RPL_EXCEPTLIST,
            numeric::RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
        ),
        ListKind::Invite => (
            numeric::RPL_INVITELIST,
            numeric::RPL_ENDOFINVITELIST,
            "End of channel invite list",
        ),
    };
    let entries: Vec<(String, String, u64)> = ctx
        .core
        .state
        .channel(channel)
        .map(|c| {
            c.list(kind)
                .map(|e| (e.mask.clone(), e.setter.clone(), e.set_ms / 1000))
                .collect()
        })
        .unwrap_or_default();
    for (mask, setter, at) in entries {
        ctx.numeric(item, [channel.to_owned(), mask, setter, at.to_string()]);
    }
    ctx.numeric(end, [channel, end_text]);
}

fn user_mode(ctx: &mut Ctx<'_>, target: &str, modestring: Option<&String>) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(target_uid) = ctx.core.visible_uid_by_nick(target) else {
        ctx.numeric(numeric::ERR_NOSUCHNICK, [target, "No such nick/channel"]);
        return;
    };
    if target_uid != me {
        ctx.numeric(
            numeric::ERR_USERSDONTMATCH,
            ["Can't change mode for other users"],
        );
        return;
    }
    let Some(modestring) = modestring else {
        let modes: String = ctx
            .core
            .state
            .user(me)
            .map(|u| u.modes.iter().collect())
            .unwrap_or_default();
        ctx.numeric(numeric::RPL_UMODEIS, [format!("+{modes}")]);
        return;
    };
    let mut on = true;
    let mut applied = Vec::new();
    let mut unknown = false;
    for letter in modestring.chars() {
        match letter {
            '+' => on = true,
            '-' => on = false,
            'o' if !on => {
                if let Some(local) = ctx.core.local.get_mut(&me) {
                    local.oper = None;
                }
                applied.extend(set_user_mode(ctx, me, 'o', false));
            }
            c if USER_SETTABLE.contains(c) => applied.extend(set_user_mode(ctx, me, c, on)),
            'o' => {}
            _ => unknown = true,
        }
    }
    if unknown {
        ctx.numeric(numeric::ERR_UMODEUNKNOWNFLAG, ["Unknown MODE flag"]);
    }
    if !applied.is_empty() {
        let nick = ctx.nick();
        let mut line = mode_message(nick.clone(), nick, &applied);
        line.source = Some(ctx.core.mask_of(me).unwrap_or_default());
        ctx.send(line);
    }
}

/// Set one of a user's own modes; returns the change if it was visible.
pub fn set_user_mode(
    ctx: &mut Ctx<'_>,
    uid: Uid,
    mode: char,
    on: bool,
) -> Option<(bool, char, Option<String>)> {
    let (_, changes) = ctx.core.commit_quiet(OpBody::SetUserMode { uid, mode, on });
    changes.iter().find_map(|c| match c {
        latticed_crdt::Change::UserModeChanged { mode, on, .. } => Some((*on, *mode, None)),
        _ => None,
    })
}
