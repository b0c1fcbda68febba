//! Operator commands: OPER, KILL, REHASH, WALLOPS.

use latticed_config::OperPrivilege;
use latticed_crdt::OpBody;
use latticed_proto::{mask_match, numeric, Message};

use super::mode::set_user_mode;
use super::Ctx;
use crate::outbound::CloseReason;
use crate::tenant::OperPrivs;

/// Compare secrets without an early exit, so timing does not reveal the matching prefix.
fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// `OPER name password`.
pub fn oper(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    if msg.params.len() < 2 {
        ctx.need_more_params("OPER");
        return;
    }
    let (name, password) = (&msg.params[0], &msg.params[1]);
    let userhost = ctx
        .core
        .state
        .user(me)
        .map(|u| {
            (
                format!("{}@{}", u.user, u.host),
                format!("{}@{}", u.user, u.ip),
            )
        })
        .unwrap_or_default();
    let cm = ctx.core.casemapping();
    let block = ctx.config.opers.iter().find(|o| o.name == *name).cloned();
    let Some(block) = block.filter(|b| {
        b.hosts
            .iter()
            .any(|h| mask_match(h, &userhost.0, cm) || mask_match(h, &userhost.1, cm))
    }) else {
        ctx.numeric(numeric::ERR_NOOPERHOST, ["No O-lines for your host"]);
        return;
    };
    if !secret_eq(&block.password, password) {
        ctx.numeric(numeric::ERR_PASSWDMISMATCH, ["Password incorrect"]);
        return;
    }
    let privs = OperPrivs {
        name: block.name.clone(),
        kill: block.privileges.contains(&OperPrivilege::Kill),
        rehash: block.privileges.contains(&OperPrivilege::Rehash),
        wallops: block.privileges.contains(&OperPrivilege::Wallops),
        see_hidden: block.privileges.contains(&OperPrivilege::SeeInvisible)
            || block.privileges.contains(&OperPrivilege::SeeSecret),
    };
    if let Some(local) = ctx.core.local.get_mut(&me) {
        local.oper = Some(Box::new(privs));
    }
    if let Some(change) = set_user_mode(ctx, me, 'o', true) {
        let nick = ctx.nick();
        let mut line = crate::modes::mode_message(nick.clone(), nick, &[change]);
        line.source = ctx.core.mask_of(me);
        ctx.send(line);
    }
    ctx.numeric(numeric::RPL_YOUREOPER, ["You are now an IRC operator"]);
    tracing::info!(tenant = %ctx.tenant.id, oper = %block.name, "OPER succeeded");
}

fn privs(ctx: &Ctx<'_>) -> Option<OperPrivs> {
    ctx.conn
        .uid
        .and_then(|u| ctx.core.local.get(&u))
        .and_then(|l| l.oper.as_deref().cloned())
}

fn no_privileges(ctx: &mut Ctx<'_>) {
    ctx.numeric(
        numeric::ERR_NOPRIVILEGES,
        ["Permission Denied - You're not an IRC operator"],
    );
}

/// `KILL nick :reason`.
pub fn kill(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    if !privs(ctx).is_some_and(|p| p.kill) {
        no_privileges(ctx);
        return;
    }
    if msg.params.len() < 2 {
        ctx.need_more_params("KILL");
        return;
    }
    let nick = &msg.params[0];
    let Some(victim) = ctx.core.visible_uid_by_nick(nick) else {
        ctx.numeric(
            numeric::ERR_NOSUCHNICK,
            [nick.as_str(), "No such nick/channel"],
        );
        return;
    };
    let killer = ctx.nick();
    let reason = format!("Killed ({killer} ({}))", msg.params[1]);
    if let Some(victim_nick) = ctx.core.state.user(victim).map(|u| u.nick.to_string()) {
        if let (Some(local), Some(source)) = (ctx.core.local.get(&victim), ctx.core.mask_of(me)) {
            let line = Message::new("KILL")
                .with_source(source)
                .with_param(victim_nick)
                .with_param(reason.clone());
            local.out.send(line.to_bytes());
        }
    }
    ctx.core.commit(
        OpBody::UserDepart {
            uid: victim,
            reason: reason.clone(),
        },
        ctx.outbox,
    );
    if let Some(local) = ctx.core.local.get(&victim) {
        local.out.close(
            CloseReason::Server(reason.clone()),
            &format!("Closing link: ({reason})"),
        );
    }
    tracing::info!(tenant = %ctx.tenant.id, %killer, victim = %nick, "KILL");
}

/// `REHASH`.
pub fn rehash(ctx: &mut Ctx<'_>, _msg: &Message) {
    if !privs(ctx).is_some_and(|p| p.rehash) {
        no_privileges(ctx);
        return;
    }
    ctx.numeric(numeric::RPL_REHASHING, ["latticed.toml", "Rehashing"]);
    if let Err(err) = ctx.tenant.rehash() {
        let nick = ctx.nick();
        let notice = Message::new("NOTICE")
            .with_source(ctx.server().to_owned())
            .with_param(nick)
            .with_param(format!("REHASH failed: {err}"));
        ctx.send(notice);
    }
}

/// `WALLOPS :text`: to every local user with +w.
pub fn wallops(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some(me) = ctx.conn.uid else { return };
    if !privs(ctx).is_some_and(|p| p.wallops) {
        no_privileges(ctx);
        return;
    }
    let Some(text) = msg.params.first() else {
        ctx.need_more_params("WALLOPS");
        return;
    };
    let line = Message::new("WALLOPS")
        .with_source(ctx.core.mask_of(me).unwrap_or_default())
        .with_param(text.clone());
    let recipients: Vec<_> = ctx
        .core
        .local
        .keys()
        .copied()
        .filter(|u| {
            ctx.core
                .state
                .user(*u)
                .is_some_and(|v| v.modes.contains(&'w'))
        })
        .collect();
    crate::render::send_to(
        ctx.core,
        ctx.outbox,
        recipients.into_iter(),
        line,
        crate::time::unix_now_ms(),
    );
}
