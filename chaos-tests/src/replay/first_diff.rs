//! The first field in which two JSON documents differ, named by a readable path
//! (`channels[#chaos0].members[1].prefixes`), for the evidence of a byte mismatch between two
//! replays. Array elements are named by their `name` (channels) or `uid` (users, members) when
//! they have one, else by index.

use serde_json::Value;

/// Longest rendering of a value in a difference line.
const SHOWN: usize = 160;

/// The first difference between two documents as `path: a vs b`, or why they could not be
/// compared; `None` when the bytes are equal.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes);
    match (parse(a), parse(b)) {
        (Ok(va), Ok(vb)) => Some(
            walk(&va, &vb, "")
                .unwrap_or_else(|| "same JSON value, different bytes (formatting)".to_owned()),
        ),
        (Err(e), _) | (_, Err(e)) => Some(format!("not comparable, output is not JSON: {e}")),
    }
}

fn walk(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => walk(x, y, &sub),
                    (x, y) => Some(format!("{sub}: {} vs {}", show(x), show(y))),
                }
            })
        }
        (Value::Array(xa), Value::Array(xb)) => {
            let found = xa.iter().zip(xb).enumerate().find_map(|(i, (x, y))| {
                let (lx, ly) = (label(x, i), label(y, i));
                if lx != ly {
                    Some(format!("{path}[{i}]: {lx} vs {ly}"))
                } else {
                    walk(x, y, &format!("{path}[{lx}]"))
                }
            });
            found.or_else(|| {
                (xa.len() != xb.len()).then(|| {
                    let (longer, extra) = if xa.len() > xb.len() {
                        ("first", &xa[xb.len()])
                    } else {
                        ("second", &xb[xa.len()])
                    };
                    format!(
                        "{path}: {} vs {} entries; the {longer} also has {}",
                        xa.len(),
                        xb.len(),
                        show(Some(extra))
                    )
                })
            })
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {} vs {}", show(Some(a)), show(Some(b)))),
    }
}

/// How an array element is named in a path.
fn label(v: &Value, index: usize) -> String {
    if let Some(name) = v.get("name").and_then(Value::as_str) {
        return name.to_owned();
    }
    match v.get("uid") {
        Some(uid) => match (
            uid.get("node").and_then(Value::as_u64),
            uid.get("n").and_then(Value::as_u64),
        ) {
            (Some(node), Some(n)) => format!("uid {node}/{n}"),
            _ => format!("uid {uid}"),
        },
        None => index.to_string(),
    }
}

fn show(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "(absent)".to_owned();
    };
    let text = v.to_string();
    if text.chars().count() <= SHOWN {
        text
    } else {
        let cut: String = text.chars().take(SHOWN).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_differing_field() {
        let a = br##"{"users":[{"uid":{"node":1,"n":1},"nick":"a"}],"channels":[{"name":"#c","members":[{"uid":{"node":1,"n":1},"prefixes":"o"}]}]}"##;
        let b = br##"{"users":[{"uid":{"node":1,"n":1},"nick":"a"}],"channels":[{"name":"#c","members":[{"uid":{"node":1,"n":1},"prefixes":""}]}]}"##;
        let d = first_difference(a, b).expect("differs");
        assert_eq!(d, r#"channels[#c].members[uid 1/1].prefixes: "o" vs """#);
        assert_eq!(first_difference(a, a), None);
    }

    #[test]
    fn missing_entries_and_keys_are_named() {
        let d = first_difference(br#"{"users":[1,2]}"#, br#"{"users":[1]}"#).expect("differs");
        assert_eq!(d, "users: 2 vs 1 entries; the first also has 2");
        let d = first_difference(br#"{"a":1}"#, br#"{"a":1,"b":2}"#).expect("differs");
        assert_eq!(d, "b: (absent) vs 2");
        let d = first_difference(br#"{"a":1}"#, br#"{ "a": 1 }"#).expect("differs");
        assert!(d.contains("formatting"), "{d}");
        let d = first_difference(b"{", b"{}").expect("differs");
        assert!(d.contains("not JSON"), "{d}");
    }

    #[test]
    fn differently_named_elements_at_one_index_are_reported_by_name() {
        let d =
            first_difference(br##"[{"name":"#a"}]"##, br##"[{"name":"#b"}]"##).expect("differs");
        assert_eq!(d, "[0]: #a vs #b");
    }
}
