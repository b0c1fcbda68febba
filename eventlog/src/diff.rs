//! What changed in a tenant between two instants, field by field, for `latticed replay --diff`.

use std::collections::BTreeMap;

use latticed_crdt::{TenantId, TenantState};
use serde::Serialize;
use serde_json::Value;

/// The differences between a tenant's state at two instants.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateDiff {
    /// The tenant.
    pub tenant: TenantId,
    /// The earlier instant (Unix milliseconds).
    pub from_ms: u64,
    /// The later instant.
    pub to_ms: u64,
    /// Users, identified by uid (its display form).
    pub users: SectionDiff,
    /// Channels, identified by case-folded name.
    pub channels: SectionDiff,
}

/// Differences among one kind of object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SectionDiff {
    /// Objects present only at the later instant, in full.
    pub added: Vec<Value>,
    /// Objects present only at the earlier instant, in full.
    pub removed: Vec<Value>,
    /// Objects present at both with different fields.
    pub changed: Vec<ObjectDiff>,
}

/// The changed fields of one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectDiff {
    /// The object's identity (uid, or folded channel name).
    pub id: String,
    /// Each differing field's values.
    pub fields: BTreeMap<String, FieldDiff>,
}

/// One field's value at both instants.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDiff {
    /// At the earlier instant.
    pub before: Value,
    /// At the later instant.
    pub after: Value,
}

impl StateDiff {
    /// Compares the visible states `before` (at `from_ms`) and `after` (at `to_ms`).
    pub fn between(
        before: &TenantState,
        after: &TenantState,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<StateDiff, serde_json::Error> {
        let (b, a) = (before.snapshot(), after.snapshot());
        let fold = |name: &str| after.casemapping().fold(name);
        let users = SectionDiff::compare(
            keyed(b.users.iter(), |u| u.uid.to_string())?,
            keyed(a.users.iter(), |u| u.uid.to_string())?,
        );
        let channels = SectionDiff::compare(
            keyed(b.channels.iter(), |c| fold(&c.name))?,
            keyed(a.channels.iter(), |c| fold(&c.name))?,
        );
        Ok(StateDiff {
            tenant: a.tenant,
            from_ms,
            to_ms,
            users,
            channels,
        })
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.channels.is_empty()
    }
}

impl SectionDiff {
    fn compare(before: BTreeMap<String, Value>, mut after: BTreeMap<String, Value>) -> Self {
        let mut diff = SectionDiff::default();
        for (id, old) in before {
            match after.remove(&id) {
                None => diff.removed.push(old),
                Some(new) if new == old => {}
                Some(new) => diff.changed.push(ObjectDiff {
                    fields: field_diffs(old, new),
                    id,
                }),
            }
        }
        diff.added = after.into_values().collect();
        diff
    }

    /// Whether nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

fn keyed<'a, T: Serialize + 'a>(
    items: impl Iterator<Item = &'a T>,
    id: impl Fn(&T) -> String,
) -> Result<BTreeMap<String, Value>, serde_json::Error> {
    items
        .map(|item| Ok((id(item), serde_json::to_value(item)?)))
        .collect()
}

/// Top-level fields that differ between two JSON objects (a non-object compares as a whole).
fn field_diffs(old: Value, new: Value) -> BTreeMap<String, FieldDiff> {
    match (old, new) {
        (Value::Object(mut old), Value::Object(mut new)) => {
            let names: std::collections::BTreeSet<String> =
                old.keys().chain(new.keys()).cloned().collect();
            names
                .into_iter()
                .filter_map(|name| {
                    let before = old.remove(&name).unwrap_or(Value::Null);
                    let after = new.remove(&name).unwrap_or(Value::Null);
                    (before != after).then_some((name, FieldDiff { before, after }))
                })
                .collect()
        }
        (before, after) => BTreeMap::from([(String::new(), FieldDiff { before, after })]),
    }
}
