//! A tenant core restored from a snapshot (through the event log's snapshot store, as the node
//! does it) goes on exactly where the original stood: same state, same version vector, the next
//! op numbered and stamped as the original's would be, no uid reused, WHOWAS kept.

use std::sync::Arc;

use latticed_actors::tenant::{CoreSnapshot, Foreign, RestoreError};
use latticed_actors::{OpSink, Tenant};
use latticed_config::{CaseMappingName, TenantConfig};
use latticed_crdt::{NodeId, Op, OpBody, OpId, Stamp, TenantId, Uid};
use latticed_eventlog::EventLog;

mod support;

use support::{arrive, NODE};

/// Stores every op and clock ceiling in the event log, as the node's sink does.
struct LogAppender(EventLog);

impl OpSink for LogAppender {
    fn record(&self, op: &Op, _seen: &std::collections::BTreeMap<latticed_crdt::NodeId, u64>) {
        self.0.append(op).expect("append");
    }

    fn persist_clock_ceiling(&self, ceiling: u64) {
        self.0
            .persist_clock_ceiling(NODE, ceiling)
            .expect("persist ceiling");
    }
}

fn tenant(name: &str, casemapping: CaseMappingName, log: &EventLog) -> Tenant {
    let config = TenantConfig {
        name: name.to_owned(),
        casemapping,
        ..TenantConfig::default()
    };
    support::tenant(config, Arc::new(LogAppender(log.clone())), log)
}

fn topic(text: &str, by: Uid) -> OpBody {
    OpBody::SetTopic {
        channel: "#c".into(),
        topic: text.into(),
        setter: "alice!u@h".into(),
        by,
    }
}

/// A tenant with local users (one departed), a channel with a topic, and a user from node 2
/// whose op carries a stamp far above anything node 1 issued. Returns it and the departed uid.
fn busy_tenant(log: &EventLog) -> (Tenant, Uid) {
    let tenant = tenant("net", CaseMappingName::Rfc1459, log);
    let mut core = tenant.lock();
    let alice = core.allocate_uid();
    core.commit_quiet(arrive(alice, "alice"));
    let bob = core.allocate_uid();
    core.commit_quiet(arrive(bob, "Bob"));
    core.commit_quiet(OpBody::Join {
        channel: "#c".into(),
        uid: alice,
    });
    core.commit_quiet(topic("before", alice));
    core.commit_quiet(OpBody::UserDepart {
        uid: bob,
        reason: "bye".into(),
    });
    let far = Op {
        tenant: TenantId("net".into()),
        id: OpId {
            origin: NodeId(2),
            seq: 1,
        },
        stamp: Stamp {
            counter: 1_000_000,
            node: NodeId(2),
        },
        wall_ms: 1,
        body: arrive(
            Uid {
                node: NodeId(2),
                n: 1,
            },
            "carol",
        ),
    };
    assert!(matches!(
        core.apply_foreign(&far, false),
        Foreign::Applied(_)
    ));
    drop(core);
    (tenant, bob)
}

#[test]
fn a_restored_core_continues_where_the_original_stood() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log");
    let (original, bob) = busy_tenant(&log);
    let (snapshot, vv) = original.lock().snapshot();
    log.write_snapshot(&original.id, &snapshot, &vv)
        .expect("write snapshot");
    let stored = log
        .latest_snapshot::<CoreSnapshot>(&original.id)
        .expect("readable")
        .expect("present");
    assert_eq!(stored.vv, vv);

    let restored = tenant("net", CaseMappingName::Rfc1459, &log);
    let mut core = restored.lock();
    core.restore_snapshot(stored.state, stored.vv)
        .expect("restorable");
    let mut before = original.lock();
    assert_eq!(core.state.snapshot(), before.state.snapshot());
    assert_eq!(core.version_vector(), before.version_vector());
    assert_eq!(
        core.whowas
            .lookup("bob")
            .map(|e| e.nick.as_str())
            .collect::<Vec<_>>(),
        vec!["Bob"]
    );

    // The next op follows the original's own ops and is stamped above the foreign stamp the
    // state holds: the original takes it as the continuation of its own ops.
    let alice = core.state.uid_by_nick("alice").expect("alice");
    let (next, _) = core.commit_quiet(topic("after", alice));
    assert_eq!(next.id.seq, 6);
    assert!(next.stamp.counter > 1_000_000, "{:?}", next.stamp);
    assert!(matches!(
        before.apply_foreign(&next, false),
        Foreign::Applied(_)
    ));
    assert_eq!(core.state.snapshot(), before.state.snapshot());
    assert_eq!(core.version_vector(), before.version_vector());

    // Departed bob's uid is not handed out again.
    assert_eq!(
        core.allocate_uid(),
        Uid {
            node: bob.node,
            n: bob.n + 1
        }
    );
}

#[test]
fn a_snapshot_only_replaces_an_empty_state_of_the_same_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log");
    let (original, _) = busy_tenant(&log);
    let (snapshot, vv) = original.lock().snapshot();

    let other = tenant("other", CaseMappingName::Rfc1459, &log);
    assert_eq!(
        other.lock().restore_snapshot(snapshot.clone(), vv.clone()),
        Err(RestoreError::WrongTenant {
            expected: TenantId("other".into()),
            found: TenantId("net".into()),
        })
    );
    let ascii = tenant("net", CaseMappingName::Ascii, &log);
    let refused = ascii.lock().restore_snapshot(snapshot.clone(), vv.clone());
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err(
            "snapshot of tenant net folds names with rfc1459, the tenant is configured with ascii"
                .into()
        )
    );
    assert_eq!(ascii.lock().state.user_count(), 0);
    assert_eq!(
        original.lock().restore_snapshot(snapshot, vv),
        Err(RestoreError::NotFresh {
            tenant: TenantId("net".into())
        })
    );
}
