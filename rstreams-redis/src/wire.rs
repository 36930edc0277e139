//! Parsing the replies of the stream commands (RESP2 arrays, or RESP3 maps).

use redis::Value;

use crate::Entry;

fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).map_err(|e| e.to_string()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

fn bytes(value: Value) -> Result<Vec<u8>, String> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => Err(format!("expected a value, got {other:?}")),
    }
}

fn items(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

/// One entry: `[id, [field, value, ...]]` (the fields are nil for an entry deleted while
/// pending).
fn entry(value: Value) -> Result<Entry, String> {
    let mut parts = items(value)?.into_iter();
    let id = text(&parts.next().ok_or("an entry without an id")?)?;
    let mut fields = Vec::new();
    match parts.next() {
        Some(Value::Map(pairs)) => {
            for (k, v) in pairs {
                fields.push((text(&k)?, bytes(v)?));
            }
        }
        Some(list) => {
            let mut flat = items(list)?.into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                fields.push((text(&k)?, bytes(v)?));
            }
        }
        None => {}
    }
    Ok(Entry { id, fields })
}

fn entries(value: Value) -> Result<Vec<Entry>, String> {
    items(value)?.into_iter().map(entry).collect()
}

/// `XREADGROUP`'s reply for one stream: nil (timed out), `[[stream, [entry...]]]`, or a map.
pub(crate) fn read_reply(reply: Value) -> Result<Vec<Entry>, String> {
    match reply {
        Value::Map(streams) => {
            let mut out = Vec::new();
            for (_, list) in streams {
                out.extend(entries(list)?);
            }
            Ok(out)
        }
        other => {
            let mut out = Vec::new();
            for stream in items(other)? {
                let mut parts = items(stream)?.into_iter();
                let _name = parts.next();
                if let Some(list) = parts.next() {
                    out.extend(entries(list)?);
                }
            }
            Ok(out)
        }
    }
}

/// `XAUTOCLAIM`'s reply: `[next cursor, [entry...], [deleted id...]]` (the third part from
/// Redis 7).
pub(crate) fn autoclaim_reply(reply: Value) -> Result<(String, Vec<Entry>), String> {
    let mut parts = items(reply)?.into_iter();
    let cursor = text(&parts.next().ok_or("XAUTOCLAIM without a cursor")?)?;
    let claimed = match parts.next() {
        Some(list) => entries(list)?
            .into_iter()
            .filter(|e| !e.fields.is_empty())
            .collect(),
        None => Vec::new(),
    };
    Ok((cursor, claimed))
}

/// The delivery count in the extended `XPENDING s g id id 1` reply
/// (`[[id, consumer, idle, count]]`), or `None` if the entry is no longer pending.
pub(crate) fn pending_count(reply: Value) -> Option<u64> {
    let first = items(reply).ok()?.into_iter().next()?;
    match items(first).ok()?.into_iter().nth(3)? {
        Value::Int(n) => u64::try_from(n).ok(),
        other => text(&other).ok()?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_timed_out_read_is_no_entries() {
        assert_eq!(read_reply(Value::Nil).unwrap(), Vec::new());
    }

    #[test]
    fn a_read_reply_gives_each_entry_with_its_fields_in_order() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]),
            ])]),
        ])]);
        let got = read_reply(reply).unwrap();
        assert_eq!(
            got,
            vec![Entry::new(
                "1-0",
                vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())]
            )]
        );
    }

    #[test]
    fn an_autoclaim_reply_drops_deleted_entries_and_keeps_the_cursor() {
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("a"), bulk("1")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
            Value::Array(vec![]),
        ]);
        let (cursor, claimed) = autoclaim_reply(reply).unwrap();
        assert_eq!(cursor, "0-0");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, "1-0");
    }

    #[test]
    fn the_pending_count_is_the_fourth_field_of_the_extended_xpending_reply() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            bulk("c"),
            Value::Int(12),
            Value::Int(2),
        ])]);
        assert_eq!(pending_count(reply), Some(2));
        assert_eq!(pending_count(Value::Array(vec![])), None);
    }
}
