//! Readers of the two error shapes clients see, shared by the HTTP test harnesses (the real server's
//! and the in-process router's): cargo's `{"errors":[{"detail": ...}]}` and GraphQL's
//! `errors[].extensions.code`.

use serde_json::Value;

/// The `errors[].detail` strings of a cargo error body joined by `"; "`, or why the body is not
/// one (not JSON, no non-empty `errors` array, an error without a string `detail`).
pub fn cargo_error_details(body: &[u8]) -> Result<String, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not JSON ({e}): {:?}", String::from_utf8_lossy(body)))?;
    let errors = json
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| format!("the body has no non-empty `errors` array: {json}"))?;
    let details = errors
        .iter()
        .map(|e| e.get("detail").and_then(Value::as_str).map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("an error without a string `detail`: {json}"))?;
    Ok(details.join("; "))
}

/// The `extensions.code` of every GraphQL error (`<none>` for an error without one).
pub fn graphql_error_codes(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| e.pointer("/extensions/code").and_then(Value::as_str).unwrap_or("<none>").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cargo_errors() {
        assert_eq!(cargo_error_details(br#"{"errors":[{"detail":"a"},{"detail":"b"}]}"#), Ok("a; b".into()));
        assert!(cargo_error_details(b"nope").is_err());
        assert!(cargo_error_details(br#"{"errors":[]}"#).is_err());
        assert!(cargo_error_details(br#"{"errors":[{"detail":1}]}"#).is_err());
    }

    #[test]
    fn graphql_codes() {
        let body = json!({"errors": [{"extensions": {"code": "FORBIDDEN"}}, {"message": "x"}]});
        assert_eq!(graphql_error_codes(&body), ["FORBIDDEN", "<none>"]);
        assert!(graphql_error_codes(&json!({"data": {}})).is_empty());
    }
}
