//! Queries, scans and their cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::store::item::{Index, Item, PK, Page, Query, SK, SortKey, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use serde_json::Value;

use super::conn::{db, invalid};
use super::rows::parse_item;

// ----------------------------------------------------------------------------------------------
// Queries

/// The smallest string greater than every string starting with `prefix` (`None`: no such bound).
/// UTF-8 byte order is code point order, so this is the prefix with its last character bumped.
pub(super) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The position after the last item of a page: the item's sort key for a table query; index sort
/// key, pk and sk for an index query (index sort keys are not unique).
pub(super) fn encode_cursor(index: Option<Index>, last: &Item) -> Result<String, StoreError> {
    let attr = |name: &str| {
        last.get_str(name)
            .map(|s| Value::String(s.to_owned()))
            .ok_or_else(|| StoreError::backend(format!("stored item without {name}")))
    };
    let position = match index {
        None => vec![attr(SK)?],
        Some(index) => vec![attr(index.sk_attr())?, attr(PK)?, attr(SK)?],
    };
    let cursor = serde_json::json!({ "i": index.map(Index::name), "k": position });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

pub(super) fn decode_cursor(index: Option<Index>, cursor: &str) -> Result<Vec<String>, StoreError> {
    let bad = || invalid("invalid query cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("i").and_then(Value::as_str) != index.map(Index::name) {
        return Err(invalid("query cursor belongs to another index"));
    }
    let position: Vec<String> = value
        .get("k")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let expected = if index.is_some() { 3 } else { 1 };
    if position.len() != expected {
        return Err(bad());
    }
    Ok(position)
}

pub(super) fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    if query.pk.is_empty() {
        return Err(invalid("query with an empty partition key"));
    }
    if query.limit == Some(0) {
        return Err(invalid("query limit must be at least 1"));
    }
    let (pk_col, sk_col) = match query.index {
        None => (PK, SK),
        Some(index) => (index.pk_attr(), index.sk_attr()),
    };
    let mut sql = format!("SELECT data FROM items WHERE {pk_col} = ?");
    let mut args = vec![SqlValue::Text(query.pk.clone())];
    let mut bound = |sql: &mut String, op: &str, value: &str| {
        sql.push_str(&format!(" AND {sk_col} {op} ?"));
        args.push(SqlValue::Text(value.to_owned()));
    };
    match &query.sk {
        SortKey::Any => {}
        SortKey::Prefix(prefix) => {
            if !prefix.is_empty() {
                bound(&mut sql, ">=", prefix);
                if let Some(upper) = prefix_successor(prefix) {
                    bound(&mut sql, "<", &upper);
                }
            }
        }
        SortKey::Between(from, to) => {
            bound(&mut sql, ">=", from);
            bound(&mut sql, "<=", to);
        }
        SortKey::From(from) => bound(&mut sql, ">=", from),
        SortKey::UpTo(to) => bound(&mut sql, "<=", to),
    }
    let (after, order) = if query.forward { (">", "ASC") } else { ("<", "DESC") };
    if let Some(cursor) = &query.cursor {
        let position = decode_cursor(query.index, cursor)?;
        match query.index {
            None => sql.push_str(&format!(" AND sk {after} ?")),
            Some(_) => sql.push_str(&format!(" AND ({sk_col}, pk, sk) {after} (?, ?, ?)")),
        }
        args.extend(position.into_iter().map(SqlValue::Text));
    }
    match query.index {
        None => sql.push_str(&format!(" ORDER BY sk {order}")),
        Some(_) => sql.push_str(&format!(" ORDER BY {sk_col} {order}, pk {order}, sk {order}")),
    }
    // One row more than the limit tells whether another page follows.
    sql.push_str(" LIMIT ?");
    args.push(SqlValue::Integer(query.limit.map_or(-1, |l| i64::from(l) + 1)));

    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args.iter())).map_err(db)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        items.push(parse_item(row.get_ref(0).map_err(db)?)?);
    }
    let mut cursor = None;
    if let Some(limit) = query.limit.map(|l| l as usize)
        && items.len() > limit
    {
        items.truncate(limit);
        if let Some(last) = items.last() {
            cursor = Some(encode_cursor(query.index, last)?);
        }
    }
    Ok(Page { items, cursor })
}

// Scans

/// Most rows one page of a segmented scan examines (rows of other segments are skipped, so a page
/// may hold fewer items than its limit; the cursor then points after the last row examined).
pub(super) const SCAN_EXAMINE_MAX: u32 = 10_000;

/// The segment of a partition key among `total` (FNV-1a: stable across processes and versions). All
/// items of a partition fall in one segment.
pub(super) fn scan_segment(pk: &str, total: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in pk.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % total
}

/// A scan cursor: the key of the last row examined, `{"scan": [pk, sk]}` as URL-safe base64.
pub(super) fn encode_scan_cursor(pk: &str, sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!({ "scan": [pk, sk] }).to_string())
}

pub(super) fn decode_scan_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let bad = || invalid("invalid scan cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match value.get("scan").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::String(pk), Value::String(sk)]) => Ok((pk.clone(), sk.clone())),
        _ => Err(bad()),
    }
}

/// One page of a scan in `(pk, sk)` order (the primary key order of the table).
pub(super) fn run_scan(
    conn: &Connection,
    segment: Option<(u32, u32)>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, StoreError> {
    let after = cursor.map(decode_scan_cursor).transpose()?;
    let filter = segment.filter(|&(_, total)| total > 1);
    // One row more than the page may examine tells whether another page follows.
    let examine = if filter.is_some() { limit.max(SCAN_EXAMINE_MAX) } else { limit };
    let mut sql = String::from("SELECT pk, sk, data FROM items");
    let mut args = Vec::new();
    if let Some((pk, sk)) = after {
        sql.push_str(" WHERE (pk, sk) > (?, ?)");
        args.push(SqlValue::Text(pk));
        args.push(SqlValue::Text(sk));
    }
    sql.push_str(" ORDER BY pk, sk LIMIT ?");
    args.push(SqlValue::Integer(i64::from(examine) + 1));

    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args.iter())).map_err(db)?;
    let mut items = Vec::new();
    let mut examined = 0u32;
    let mut last: Option<(String, String)> = None;
    let mut more = false;
    while let Some(row) = rows.next().map_err(db)? {
        if examined == examine || items.len() == limit as usize {
            more = true;
            break;
        }
        examined += 1;
        let pk: String = row.get(0).map_err(db)?;
        let sk: String = row.get(1).map_err(db)?;
        if filter.is_none_or(|(index, total)| scan_segment(&pk, total) == index) {
            items.push(parse_item(row.get_ref(2).map_err(db)?)?);
        }
        last = Some((pk, sk));
    }
    let cursor = match (more, last) {
        (true, Some((pk, sk))) => Some(encode_scan_cursor(&pk, &sk)),
        _ => None,
    };
    Ok(Page { items, cursor })
}
