//! A user's own presence: AWAY, SETNAME, MONITOR.

use std::collections::BTreeSet;

use latticed_crdt::OpBody;
use latticed_proto::{numeric, Message};

use super::Ctx;

/// `AWAY [:message]`.
pub fn away(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let text = msg.params.first().filter(|t| !t.is_empty()).map(|t| {
        t.chars()
            .take(ctx.config.limits.away_len)
            .collect::<String>()
    });
    let now_away = text.is_some();
    ctx.core.commit(
        OpBody::SetAway {
            uid: me,
            away: text,
        },
        ctx.outbox,
    );
    if now_away {
        ctx.numeric(numeric::RPL_NOWAWAY, ["You have been marked as being away"]);
    } else {
        ctx.numeric(
            numeric::RPL_UNAWAY,
            ["You are no longer marked as being away"],
        );
    }
}

/// `SETNAME :realname`.
pub fn setname(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(realname) = msg.params.first() else {
        ctx.need_more_params("SETNAME");
        return;
    };
    if realname.is_empty() || realname.chars().count() > ctx.config.limits.realname_len {
        ctx.standard_reply(
            "FAIL",
            "SETNAME",
            "INVALID_REALNAME",
            &[],
            "Realname is not valid",
        );
        return;
    }
    ctx.core.commit(
        OpBody::SetRealname {
            uid: me,
            realname: realname.clone(),
        },
        ctx.outbox,
    );
}

/// `MONITOR + targets | - targets | C | L | S`.
pub fn monitor(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    let Some(sub) = msg.params.first() else {
        ctx.need_more_params("MONITOR");
        return;
    };
    let targets: Vec<String> = msg
        .params
        .get(1)
        .map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match sub.as_str() {
        "+" => add(ctx, me, targets),
        "-" => {
            for nick in targets {
                remove(ctx, me, &nick);
            }
        }
        "C" | "c" => {
            let all = monitored(ctx, me);
            for nick in all {
                remove(ctx, me, &nick);
            }
        }
        "L" | "l" => {
            let all = monitored(ctx, me);
            if !all.is_empty() {
                ctx.numeric(numeric::RPL_MONLIST, [all.join(",")]);
            }
            ctx.numeric(numeric::RPL_ENDOFMONLIST, ["End of MONITOR list"]);
        }
        "S" | "s" => {
            let all = monitored(ctx, me);
            status(ctx, &all);
        }
        _ => ctx.need_more_params("MONITOR"),
    }
}

/// The nicks `me` monitors, as given.
fn monitored(ctx: &Ctx<'_>, me: latticed_crdt::Uid) -> Vec<String> {
    ctx.core
        .monitor_lists
        .get(&me)
        .map(|list| list.iter().cloned().collect())
        .unwrap_or_default()
}

fn add(ctx: &mut Ctx<'_>, me: latticed_crdt::Uid, targets: Vec<String>) {
    let limit = ctx.config.limits.max_monitor;
    let mut added = Vec::new();
    for (i, nick) in targets.iter().enumerate() {
        let count = ctx.core.monitor_lists.get(&me).map_or(0, BTreeSet::len);
        let folded = ctx.fold(nick);
        let already = ctx.core.monitor_lists.get(&me).is_some_and(|list| {
            list.iter()
                .any(|n| ctx.core.casemapping().fold(n) == folded)
        });
        if already {
            continue;
        }
        if count >= limit {
            ctx.numeric(
                numeric::ERR_MONLISTFULL,
                [
                    limit.to_string(),
                    targets[i..].join(","),
                    "Monitor list is full".into(),
                ],
            );
            break;
        }
        if ctx.core.local.contains_key(&me) {
            ctx.core
                .monitor_lists
                .entry(me)
                .or_default()
                .insert(nick.clone());
        }
        ctx.core.monitors.entry(folded).or_default().insert(me);
        added.push(nick.clone());
    }
    status(ctx, &added);
}

fn remove(ctx: &mut Ctx<'_>, me: latticed_crdt::Uid, nick: &str) {
    let folded = ctx.fold(nick);
    let cm = ctx.core.casemapping();
    if let Some(list) = ctx.core.monitor_lists.get_mut(&me) {
        list.retain(|n| cm.fold(n) != folded);
        if list.is_empty() {
            ctx.core.monitor_lists.remove(&me);
        }
    }
    if let Some(set) = ctx.core.monitors.get_mut(&folded) {
        set.remove(&me);
        if set.is_empty() {
            ctx.core.monitors.remove(&folded);
        }
    }
}

/// 730 for the online nicks among `nicks`, 731 for the others.
fn status(ctx: &mut Ctx<'_>, nicks: &[String]) {
    let mut online = Vec::new();
    let mut offline = Vec::new();
    for nick in nicks {
        match ctx
            .core
            .visible_uid_by_nick(nick)
            .and_then(|u| ctx.core.mask_of(u))
        {
            Some(mask) => online.push(mask),
            None => offline.push(nick.clone()),
        }
    }
    if !online.is_empty() {
        ctx.numeric(numeric::RPL_MONONLINE, [online.join(",")]);
    }
    if !offline.is_empty() {
        ctx.numeric(numeric::RPL_MONOFFLINE, [offline.join(",")]);
    }
}
