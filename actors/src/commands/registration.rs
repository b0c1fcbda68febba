//! Connection registration: CAP negotiation, PASS, NICK, USER, PING/PONG, QUIT and the welcome burst.

use std::time::Instant;

use latticed_crdt::OpBody;
use latticed_proto::{is_valid_nick, is_valid_user, numeric, Message};

use super::Ctx;
use crate::caps::{Caps, ALL};
use crate::tenant::LocalUser;
use crate::time::unix_now_ms;

/// `CAP LS | LIST | REQ | END`.
pub fn cap(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(sub) = msg.params.first() else {
        ctx.need_more_params("CAP");
        return;
    };
    let nick = ctx.nick();
    let reply = |ctx: &mut Ctx<'_>, sub: &str, text: String| {
        let m = Message::new("CAP")
            .with_source(ctx.server().to_owned())
            .with_param(nick.clone())
            .with_param(sub)
            .with_param(text);
        ctx.send(m);
    };
    match sub.to_ascii_uppercase().as_str() {
        "LS" => {
            if ctx.conn.uid.is_none() {
                ctx.conn.cap_negotiating = true;
            }
            let version: u32 = msg.params.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            if version >= 302 {
                ctx.conn.cap_302 = true;
                ctx.conn.caps.set(Caps::CAP_NOTIFY, true);
                sync_caps(ctx);
            }
            let list: Vec<&str> = ALL.iter().map(|c| c.name).collect();
            reply(ctx, "LS", list.join(" "));
        }
        "LIST" => {
            let list: Vec<&str> = ctx.conn.caps.names().collect();
            reply(ctx, "LIST", list.join(" "));
        }
        "REQ" => {
            if ctx.conn.uid.is_none() {
                ctx.conn.cap_negotiating = true;
            }
            let requested = msg.params.get(1).cloned().unwrap_or_default();
            let mut caps = ctx.conn.caps;
            let mut ok = !requested.trim().is_empty();
            for item in requested.split_whitespace() {
                let (on, name) = match item.strip_prefix('-') {
                    Some(name) => (false, name),
                    None => (true, item),
                };
                match Caps::by_name(name) {
                    Some(cap) => caps.set(cap, on),
                    None => ok = false,
                }
            }
            if ok {
                ctx.conn.caps = caps;
                sync_caps(ctx);
                reply(ctx, "ACK", requested);
            } else {
                reply(ctx, "NAK", requested);
            }
        }
        "END" => {
            if ctx.conn.uid.is_none() {
                ctx.conn.cap_negotiating = false;
                try_register(ctx);
            }
        }
        _ => ctx.numeric(
            numeric::ERR_INVALIDCAPCMD,
            [sub.as_str(), "Invalid CAP command"],
        ),
    }
}

/// Copy the connection's caps to its routing entry, which deliveries read.
fn sync_caps(ctx: &mut Ctx<'_>) {
    if let Some(uid) = ctx.conn.uid {
        if let Some(local) = ctx.core.local.get_mut(&uid) {
            local.caps = ctx.conn.caps;
        }
    }
}

/// `PASS`: accepted before registration (no server password is configured), refused after.
pub fn pass(ctx: &mut Ctx<'_>, msg: &Message) {
    if ctx.conn.uid.is_some() {
        ctx.numeric(numeric::ERR_ALREADYREGISTERED, ["You may not reregister"]);
    } else if msg.params.is_empty() {
        ctx.need_more_params("PASS");
    }
}

/// `NICK newnick`.
pub fn nick(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(wanted) = msg.params.first().filter(|n| !n.is_empty()) else {
        ctx.numeric(numeric::ERR_NONICKNAMEGIVEN, ["No nickname given"]);
        return;
    };
    if !is_valid_nick(wanted, ctx.config.limits.nick_len) {
        ctx.numeric(
            numeric::ERR_ERRONEUSNICKNAME,
            [wanted.as_str(), "Erroneous nickname"],
        );
        return;
    }
    let holder = ctx.core.state.uid_by_nick(wanted);
    match ctx.conn.uid {
        Some(me) => {
            if holder.is_some_and(|h| h != me) {
                ctx.numeric(
                    numeric::ERR_NICKNAMEINUSE,
                    [wanted.as_str(), "Nickname is already in use"],
                );
                return;
            }
            let current = ctx.nick();
            if current == *wanted {
                return;
            }
            ctx.core.commit(
                OpBody::NickChange {
                    uid: me,
                    nick: wanted.clone(),
                },
                ctx.outbox,
            );
        }
        None => {
            if holder.is_some() {
                ctx.numeric(
                    numeric::ERR_NICKNAMEINUSE,
                    [wanted.as_str(), "Nickname is already in use"],
                );
                return;
            }
            ctx.conn.set_pending_nick(Some(wanted.clone()));
            try_register(ctx);
        }
    }
}

/// `USER username mode unused :realname`.
pub fn user(ctx: &mut Ctx<'_>, msg: &Message) {
    if ctx.conn.uid.is_some() {
        ctx.numeric(numeric::ERR_ALREADYREGISTERED, ["You may not reregister"]);
        return;
    }
    if msg.params.len() < 4 || msg.params[0].is_empty() || msg.params[3].is_empty() {
        ctx.need_more_params("USER");
        return;
    }
    let mut username: String = msg.params[0]
        .chars()
        .take(ctx.config.limits.user_len)
        .collect();
    if !is_valid_user(&username) {
        username = "user".to_owned();
    }
    let realname: String = msg.params[3]
        .chars()
        .take(ctx.config.limits.realname_len)
        .collect();
    ctx.conn.set_pending_user(username, realname);
    try_register(ctx);
}

/// `PING token` → `PONG server token`.
pub fn ping(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(token) = msg.params.first() else {
        ctx.numeric(numeric::ERR_NOORIGIN, ["No origin specified"]);
        return;
    };
    let pong = Message::new("PONG")
        .with_source(ctx.server().to_owned())
        .with_param(ctx.server().to_owned())
        .with_param(token.clone());
    ctx.send(pong);
}

/// `PONG`: any line already counts as activity, nothing else to do.
pub fn pong(_ctx: &mut Ctx<'_>, _msg: &Message) {}

/// `QUIT [:reason]`.
pub fn quit(ctx: &mut Ctx<'_>, msg: &Message) {
    let reason = match msg.params.first().filter(|r| !r.is_empty()) {
        Some(r) => format!("Quit: {r}"),
        None => "Quit:".to_owned(),
    };
    ctx.conn.set_quit(reason);
}

/// Complete registration once NICK and USER are in and CAP negotiation is over.
pub fn try_register(ctx: &mut Ctx<'_>) {
    if ctx.conn.uid.is_some() || ctx.conn.cap_negotiating {
        return;
    }
    let Some((nick, (user, realname))) = ctx.conn.take_registration() else {
        return;
    };
    if ctx.core.state.uid_by_nick(&nick).is_some() {
        // USER stands; the nick must be given again. The error is addressed to it.
        ctx.conn.set_pending_user(user, realname);
        ctx.conn.set_pending_nick(Some(nick.clone()));
        ctx.numeric(
            numeric::ERR_NICKNAMEINUSE,
            [nick.as_str(), "Nickname is already in use"],
        );
        ctx.conn.set_pending_nick(None);
        return;
    }
    let uid = ctx.core.allocate_uid();
    ctx.conn.uid = Some(uid);
    ctx.outbox.issuer = Some(uid);
    ctx.core.unregistered = ctx.core.unregistered.saturating_sub(1);
    ctx.core.local.insert(
        uid,
        LocalUser {
            out: ctx.conn.out.clone(),
            caps: ctx.conn.caps,
            oper: None,
            signon: unix_now_ms() / 1000,
            last_active: Instant::now(),
            tls: ctx.conn.tls,
        },
    );
    ctx.core.commit(
        OpBody::UserArrive {
            uid,
            nick,
            user,
            host: ctx.conn.host(),
            realname,
            ip: ctx.conn.ip.to_string(),
            account: None,
            modes: String::new(),
        },
        ctx.outbox,
    );
    ctx.tenant.metrics().registrations_total.inc();
    welcome(ctx);
}

fn welcome(ctx: &mut Ctx<'_>) {
    let node = ctx.tenant.node.clone();
    let nick = ctx.nick();
    let mask = ctx
        .conn
        .uid
        .and_then(|u| ctx.core.mask_of(u))
        .unwrap_or(nick);
    ctx.numeric(
        numeric::RPL_WELCOME,
        [format!(
            "Welcome to the {} IRC Network {mask}",
            ctx.config.network
        )],
    );
    ctx.numeric(
        numeric::RPL_YOURHOST,
        [format!(
            "Your host is {}, running version {}",
            node.server_name, node.version
        )],
    );
    ctx.numeric(
        numeric::RPL_CREATED,
        [format!("This server was created {}", node.started)],
    );
    ctx.numeric(
        numeric::RPL_MYINFO,
        [
            node.server_name.as_str(),
            node.version.as_str(),
            crate::modes::USER_MODES,
            crate::modes::CHANNEL_MODES,
            crate::modes::CHANNEL_PARAM_MODES,
        ],
    );
    let tokens = crate::isupport::tokens(ctx.config, ctx.core.casemapping().name());
    for line in crate::isupport::lines(&tokens) {
        let mut params: Vec<String> = line.to_vec();
        params.push("are supported by this server".to_owned());
        ctx.numeric(numeric::RPL_ISUPPORT, params);
    }
    super::query::send_lusers(ctx);
    super::info::send_motd(ctx);
}
