//! Ops by time range, kind and target.

use latticed_eventlog::{EventFilter, EventTarget, OpKind};

use crate::support::{append_all, fresh, tenant, uid, Origin};

#[test]
fn time_range_is_inclusive_and_ordered_by_time() {
    let (_dir, log) = fresh();
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let (alice, bob) = (uid(1, 1), uid(2, 1));
    let ops = vec![
        a.arrive(10, alice, "alice"),
        b.arrive(11, bob, "bob"),
        a.join(20, alice, "#Rust"),
        b.join(21, bob, "#rust"),
        a.topic(30, alice, "#RUST", "hello"),
        b.say(40, bob, "#rust", 1, "hi"),
        a.tell(41, alice, bob, 2, "psst"),
        b.join(50, bob, "#go"),
    ];
    append_all(&log, &ops[4..]);
    append_all(&log, &ops[..4]);
    let t = tenant();
    let all = EventFilter::default();
    assert_eq!(
        log.ops_in_time_range(&t, 0, u64::MAX, &all, 100).unwrap(),
        ops
    );
    assert_eq!(
        log.ops_in_time_range(&t, 20, 40, &all, 100).unwrap(),
        ops[2..6]
    );
    assert_eq!(
        log.ops_in_time_range(&t, 20, 40, &all, 2).unwrap(),
        ops[2..4]
    );
    assert!(log
        .ops_in_time_range(&t, 42, 49, &all, 100)
        .unwrap()
        .is_empty());

    let joins = EventFilter::default().kind(OpKind::Join);
    assert_eq!(
        log.ops_in_time_range(&t, 0, 100, &joins, 100).unwrap(),
        vec![ops[2].clone(), ops[3].clone(), ops[7].clone()]
    );
    let rust = EventFilter::default().target(EventTarget::Channel("#rUsT".into()));
    assert_eq!(
        log.ops_in_time_range(&t, 0, 100, &rust, 100).unwrap(),
        ops[2..6]
    );
    let alice_ops = EventFilter::default().target(EventTarget::User(alice));
    assert_eq!(
        log.ops_in_time_range(&t, 0, 100, &alice_ops, 100).unwrap(),
        vec![
            ops[0].clone(),
            ops[2].clone(),
            ops[4].clone(),
            ops[6].clone()
        ]
    );
    let bob_messages = EventFilter::default()
        .kind(OpKind::Message)
        .target(EventTarget::User(bob));
    assert_eq!(
        log.ops_in_time_range(&t, 0, 100, &bob_messages, 100)
            .unwrap(),
        ops[5..7]
    );
}
