//! Queries about users and the network: WHO (with WHOX), WHOIS, WHOWAS, ISON, USERHOST, LUSERS.

use latticed_crdt::{ChannelView, Prefixes, Uid, UserView};
use latticed_proto::{mask_match, numeric, Message};

use super::channel::sees_hidden;
use super::Ctx;
use crate::caps::Caps;

/// `WHO mask [%fields[,token]]`.
pub fn who(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(mask) = msg.params.first().filter(|m| !m.is_empty()).cloned() else {
        ctx.numeric(numeric::RPL_ENDOFWHO, ["*", "End of WHO list"]);
        return;
    };
    let whox = msg
        .params
        .get(1)
        .and_then(|p| p.strip_prefix('%'))
        .map(parse_whox);
    let opers_only = msg
        .params
        .get(1)
        .is_some_and(|p| !p.starts_with('%') && p.contains('o'));
    let hidden_ok = sees_hidden(ctx);
    let mut rows: Vec<WhoRow> = Vec::new();
    if mask.starts_with('#') {
        if let Some(chan) = ctx.core.state.channel(&mask) {
            let member = chan.member(me).is_some();
            if member || hidden_ok || !chan.flag('s') {
                for (uid, prefixes) in chan.members() {
                    let Some(user) = ctx
                        .core
                        .state
                        .user(uid)
                        .filter(|_| ctx.core.is_visible(uid))
                    else {
                        continue;
                    };
                    if !member && !hidden_ok && user.modes.contains(&'i') {
                        continue;
                    }
                    rows.push(WhoRow::new(&user, Some((chan, prefixes))));
                }
            }
        }
    } else {
        let cm = ctx.core.casemapping();
        let mine: Vec<Uid> = ctx.core.local_neighbours(me);
        let exact = !mask.contains(['*', '?']);
        for user in ctx.core.state.users() {
            if !ctx.core.is_visible(user.uid) {
                continue;
            }
            let matches = if exact {
                cm.eq(&user.nick, &mask)
            } else {
                mask == "*"
                    || mask_match(&mask, &user.nick, cm)
                    || mask_match(&mask, &crate::tenant::user_mask(&user), cm)
                    || mask_match(&mask, &user.host, cm)
                    || mask_match(&mask, &user.realname, cm)
            };
            if !matches {
                continue;
            }
            let visible = exact
                || user.uid == me
                || hidden_ok
                || !user.modes.contains(&'i')
                || mine.contains(&user.uid);
            if visible {
                rows.push(WhoRow::new(&user, None));
            }
        }
    }
    let multi = ctx.has_cap(Caps::MULTI_PREFIX);
    for row in rows {
        if opers_only && !row.oper {
            continue;
        }
        match &whox {
            Some(fields) => {
                let params = row.whox_params(ctx, fields, me);
                ctx.numeric(numeric::RPL_WHOSPCRPL, params);
            }
            None => {
                let params = vec![
                    row.channel.clone(),
                    row.user.clone(),
                    row.host.clone(),
                    ctx.tenant.node.server_of(row.uid.node),
                    row.nick.clone(),
                    row.flags(multi),
                    format!("0 {}", row.realname),
                ];
                ctx.numeric(numeric::RPL_WHOREPLY, params);
            }
        }
    }
    ctx.numeric(numeric::RPL_ENDOFWHO, [mask.as_str(), "End of WHO list"]);
}

/// Requested WHOX fields (letters) and the query token.
struct Whox {
    fields: String,
    token: String,
}

fn parse_whox(spec: &str) -> Whox {
    let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
    Whox {
        fields: fields.to_owned(),
        token: token.to_owned(),
    }
}

/// What WHO shows of one user.
struct WhoRow {
    uid: Uid,
    channel: String,
    user: String,
    host: String,
    ip: String,
    nick: String,
    realname: String,
    account: Option<String>,
    away: bool,
    oper: bool,
    bot: bool,
    prefixes: Option<Prefixes>,
}

impl WhoRow {
    fn new(user: &UserView, channel: Option<(&ChannelView, &Prefixes)>) -> WhoRow {
        WhoRow {
            uid: user.uid,
            channel: channel
                .map(|(c, _)| c.name.clone())
                .unwrap_or_else(|| "*".into()),
            user: user.user.to_string(),
            host: user.host.to_string(),
            ip: user.ip.to_string(),
            nick: user.nick.to_string(),
            realname: user.realname.to_string(),
            account: user.account.as_deref().map(str::to_owned),
            away: user.away.is_some(),
            oper: user.modes.contains(&'o'),
            bot: user.modes.contains(&'B'),
            prefixes: channel.map(|(_, p)| *p),
        }
    }

    fn flags(&self, multi: bool) -> String {
        let mut flags = String::from(if self.away { "G" } else { "H" });
        if self.oper {
            flags.push('*');
        }
        if let Some(p) = &self.prefixes {
            if multi {
                flags.push_str(&p.all_symbols());
            } else if let Some(sym) = p.highest_symbol() {
                flags.push(sym);
            }
        }
        if self.bot {
            flags.push('B');
        }
        flags
    }

    fn whox_params(&self, ctx: &Ctx<'_>, whox: &Whox, me: Uid) -> Vec<String> {
        let multi = ctx.has_cap(Caps::MULTI_PREFIX);
        let mut out = Vec::new();
        for letter in "tcuihsnfdlaor".chars() {
            if !whox.fields.contains(letter) {
                continue;
            }
            out.push(match letter {
                't' => whox.token.clone(),
                'c' => self.channel.clone(),
                'u' => self.user.clone(),
                'i' => {
                    if self.uid == me || sees_hidden(ctx) {
                        self.ip.clone()
                    } else {
                        "255.255.255.255".into()
                    }
                }
                'h' => self.host.clone(),
                's' => ctx.tenant.node.server_of(self.uid.node),
                'n' => self.nick.clone(),
                'f' => self.flags(multi),
                'd' => "0".into(),
                'l' => ctx
                    .core
                    .local
                    .get(&self.uid)
                    .map(|l| l.last_active.elapsed().as_secs().to_string())
                    .unwrap_or_else(|| "0".into()),
                'a' => self.account.clone().unwrap_or_else(|| "0".into()),
                'o' => "n/a".into(),
                _ => self.realname.clone(),
            });
        }
        out
    }
}

/// `WHOIS [server] nick`.
pub fn whois(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let nick = match msg.params.len() {
        0 => {
            ctx.numeric(numeric::ERR_NONICKNAMEGIVEN, ["No nickname given"]);
            return;
        }
        1 => msg.params[0].clone(),
        _ => msg.params[1].clone(),
    };
    let first = nick.split(',').next().unwrap_or_default().to_owned();
    let Some(uid) = ctx.core.visible_uid_by_nick(&first) else {
        ctx.numeric(
            numeric::ERR_NOSUCHNICK,
            [first.as_str(), "No such nick/channel"],
        );
        ctx.numeric(
            numeric::RPL_ENDOFWHOIS,
            [first.as_str(), "End of /WHOIS list"],
        );
        return;
    };
    let Some(user) = ctx.core.state.user(uid) else {
        return;
    };
    let n = user.nick.to_string();
    ctx.numeric(
        numeric::RPL_WHOISUSER,
        [
            n.clone(),
            user.user.to_string(),
            user.host.to_string(),
            "*".into(),
            user.realname.to_string(),
        ],
    );
    let hidden_ok = sees_hidden(ctx) || uid == me;
    let multi = ctx.has_cap(Caps::MULTI_PREFIX);
    let channels: Vec<String> = ctx
        .core
        .state
        .channels_of(uid)
        .filter(|c| !c.flag('s') || hidden_ok || c.member(me).is_some())
        .map(|c| {
            let p = c.member(uid).cloned().unwrap_or_default();
            let prefix = if multi {
                p.all_symbols()
            } else {
                p.highest_symbol().map(String::from).unwrap_or_default()
            };
            format!("{prefix}{}", c.name)
        })
        .collect();
    if !channels.is_empty() {
        ctx.numeric(numeric::RPL_WHOISCHANNELS, [n.clone(), channels.join(" ")]);
    }
    let server = ctx.tenant.node.server_of(uid.node);
    let description = if uid.node == ctx.tenant.node.id {
        ctx.tenant.node.description.clone()
    } else {
        "latticed cluster node".to_owned()
    };
    ctx.numeric(numeric::RPL_WHOISSERVER, [n.clone(), server, description]);
    if let Some(away) = &user.away {
        ctx.numeric(numeric::RPL_AWAY, [n.clone(), away.to_string()]);
    }
    if user.modes.contains(&'o') {
        ctx.numeric(
            numeric::RPL_WHOISOPERATOR,
            [n.as_str(), "is an IRC operator"],
        );
    }
    if user.modes.contains(&'B') {
        ctx.numeric(numeric::RPL_WHOISBOT, [n.as_str(), "is a bot"]);
    }
    if let Some(account) = &user.account {
        ctx.numeric(
            numeric::RPL_WHOISACCOUNT,
            [n.clone(), account.to_string(), "is logged in as".into()],
        );
    }
    if hidden_ok {
        ctx.numeric(
            numeric::RPL_WHOISACTUALLY,
            [
                n.clone(),
                user.ip.to_string(),
                "Actual user@host, Actual IP".into(),
            ],
        );
    }
    let local = ctx
        .core
        .local
        .get(&uid)
        .map(|l| (l.tls, l.last_active.elapsed().as_secs(), l.signon));
    if let Some((tls, idle, signon)) = local {
        if tls {
            ctx.numeric(
                numeric::RPL_WHOISSECURE,
                [n.as_str(), "is using a secure connection"],
            );
        }
        ctx.numeric(
            numeric::RPL_WHOISIDLE,
            [
                n.clone(),
                idle.to_string(),
                signon.to_string(),
                "seconds idle, signon time".into(),
            ],
        );
    }
    ctx.numeric(numeric::RPL_ENDOFWHOIS, [n.as_str(), "End of /WHOIS list"]);
}

/// `WHOWAS nick [count]`.
pub fn whowas(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(nick) = msg.params.first().filter(|n| !n.is_empty()).cloned() else {
        ctx.numeric(numeric::ERR_NONICKNAMEGIVEN, ["No nickname given"]);
        return;
    };
    let count = msg
        .params
        .get(1)
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| *c > 0)
        .map(|c| c as usize)
        .unwrap_or(usize::MAX);
    let key = ctx.fold(&nick);
    let entries: Vec<_> = ctx.core.whowas.lookup(&key).take(count).cloned().collect();
    if entries.is_empty() {
        ctx.numeric(
            numeric::ERR_WASNOSUCHNICK,
            [nick.as_str(), "There was no such nickname"],
        );
    }
    let server = ctx.server().to_owned();
    for entry in entries {
        ctx.numeric(
            numeric::RPL_WHOWASUSER,
            [
                entry.nick.clone(),
                entry.user,
                entry.host,
                "*".into(),
                entry.realname,
            ],
        );
        ctx.numeric(
            numeric::RPL_WHOISSERVER,
            [
                entry.nick,
                server.clone(),
                crate::time::iso8601(entry.gone_ms),
            ],
        );
    }
    ctx.numeric(numeric::RPL_ENDOFWHOWAS, [nick.as_str(), "End of WHOWAS"]);
}

/// `ISON nick [nick...]`.
pub fn ison(ctx: &mut Ctx<'_>, msg: &Message) {
    if msg.params.is_empty() {
        ctx.need_more_params("ISON");
        return;
    }
    let online: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split_whitespace())
        .filter_map(|n| ctx.core.visible_uid_by_nick(n))
        .filter_map(|u| ctx.core.state.user(u).map(|u| u.nick.to_string()))
        .collect();
    ctx.numeric(numeric::RPL_ISON, [online.join(" ")]);
}

/// `USERHOST nick [nick...]` (up to five).
pub fn userhost(ctx: &mut Ctx<'_>, msg: &Message) {
    if msg.params.is_empty() {
        ctx.need_more_params("USERHOST");
        return;
    }
    let me = ctx.conn.uid;
    let replies: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split_whitespace())
        .take(5)
        .filter_map(|n| ctx.core.visible_uid_by_nick(n))
        .filter_map(|uid| {
            let user = ctx.core.state.user(uid)?;
            let oper = if user.modes.contains(&'o') { "*" } else { "" };
            let away = if user.away.is_some() { '-' } else { '+' };
            let host = if Some(uid) == me {
                &user.ip
            } else {
                &user.host
            };
            Some(format!("{}{oper}={away}{}@{host}", user.nick, user.user))
        })
        .collect();
    ctx.numeric(numeric::RPL_USERHOST, [replies.join(" ")]);
}

/// `LUSERS`.
pub fn lusers(ctx: &mut Ctx<'_>, _msg: &Message) {
    send_lusers(ctx);
}

/// The LUSERS replies, also part of the welcome burst.
pub fn send_lusers(ctx: &mut Ctx<'_>) {
    let users = ctx.core.visible_user_count();
    let invisible = ctx.core.visible_users_with_mode('i');
    let opers = ctx.core.visible_users_with_mode('o');
    let channels = ctx.core.state.channel_count();
    let unknown = ctx.core.unregistered;
    let local = ctx.core.local.len();
    let servers = 1 + ctx.tenant.node.peers.len();
    let (max_local, max_global) = (
        ctx.core.max_local.max(local),
        ctx.core.max_global.max(users),
    );
    ctx.numeric(
        numeric::RPL_LUSERCLIENT,
        [format!(
            "There are {} users and {invisible} invisible on {servers} servers",
            users.saturating_sub(invisible)
        )],
    );
    ctx.numeric(
        numeric::RPL_LUSEROP,
        [opers.to_string(), "IRC Operators online".into()],
    );
    ctx.numeric(
        numeric::RPL_LUSERUNKNOWN,
        [unknown.to_string(), "unknown connection(s)".into()],
    );
    ctx.numeric(
        numeric::RPL_LUSERCHANNELS,
        [channels.to_string(), "channels formed".into()],
    );
    ctx.numeric(
        numeric::RPL_LUSERME,
        [format!(
            "I have {local} clients and {} servers",
            servers - 1
        )],
    );
    ctx.numeric(
        numeric::RPL_LOCALUSERS,
        [
            local.to_string(),
            max_local.to_string(),
            format!("Current local users {local}, max {max_local}"),
        ],
    );
    ctx.numeric(
        numeric::RPL_GLOBALUSERS,
        [
            users.to_string(),
            max_global.to_string(),
            format!("Current global users {users}, max {max_global}"),
        ],
    );
}
