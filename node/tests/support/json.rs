//! Looking things up in JSON the node prints (replay, events, admin API) by content rather than
//! by exact layout, where the layout is not what a test is about.

use serde_json::Value;

/// Every object anywhere in `value` (itself included) whose field `key` is the string `wanted`.
pub fn objects_with<'a>(value: &'a Value, key: &str, wanted: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    collect_objects(value, key, wanted, &mut found);
    found
}

fn collect_objects<'a>(value: &'a Value, key: &str, wanted: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if map.get(key).and_then(Value::as_str) == Some(wanted) {
                found.push(value);
            }
            for child in map.values() {
                collect_objects(child, key, wanted, found);
            }
        }
        Value::Array(items) => {
            for child in items {
                collect_objects(child, key, wanted, found);
            }
        }
        _ => {}
    }
}

/// Whether some string anywhere in `value` equals `wanted`.
pub fn has_string(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Object(map) => map.values().any(|v| has_string(v, wanted)),
        Value::Array(items) => items.iter().any(|v| has_string(v, wanted)),
        _ => false,
    }
}

/// `value[path[0]][path[1]]...`, failing the test with the whole document if a step is missing.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    let mut here = value;
    for step in path {
        here = here
            .get(step)
            .unwrap_or_else(|| panic!("no {path:?} in JSON:\n{value:#}"));
    }
    here
}

/// `value` as an array, failing the test if it is not one.
pub fn array(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {value:#}"))
}
