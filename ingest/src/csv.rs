//! The Logstash-processed audit CSV of the PerfSPEC "Kubernetes Event
//! Dataset" (`audit-logs.csv`).
//!
//! It has no header. Its columns, worked out from the data (and matching the
//! audit Event fields Logstash flattened):
//!
//! | # | content | example |
//! |---|---|---|
//! | 0 | apiserver host as JSON | `{"name":"k8s-master-perfspec"}` |
//! | 1 | stage timestamp (micro) | `2023-01-27T18:28:08.457592Z` |
//! | 2 | user.username | `system:node:k8s-master-perfspec` |
//! | 3 | verb | `patch` |
//! | 4 | objectRef.resource | `pods` |
//! | 5 | objectRef.subresource | `status` |
//! | 6 | objectRef.name | `kube-scheduler-k8s-master-perfspec` |
//! | 7 | objectRef.namespace (always empty in the dataset) | |
//! | 8 | requestURI | `/api/v1/namespaces/kube-system/pods/x/status` |
//! | 9 | auditID | `6a6ccb6a-...` |
//! | 10 | stage | `ResponseComplete` |
//! | 11 | responseStatus.code | `200` |
//! | 12-14 | empty | |
//!
//! The policy logged everything at `Metadata` level, so there are no bodies:
//! creates give `pod:create:success|failed` (no scheduler name is known),
//! bindings, deletes and evictions give their operations, and status patches
//! give nothing (a status patch without a body says nothing about what changed).
//! The namespace comes from the request URI when column 7 is empty.

use std::borrow::Cow;

use lunettes_schemas::time::parse_rfc3339;

use crate::audit::AuditView;

/// Columns the dataset has.
pub(crate) const COLUMNS: usize = 15;

/// Splits one RFC 4180 CSV line into fields (`""` inside quotes is a quote).
pub(crate) fn fields(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut out = Vec::with_capacity(COLUMNS);
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        if i < b.len() && b[i] == b'"' {
            let mut s = String::new();
            i += 1;
            let mut start = i;
            loop {
                match memchr_quote(&b[i..]) {
                    None => {
                        return Err(format!("unterminated quoted field in column {}", out.len()))
                    }
                    Some(q) => {
                        s.push_str(&line[start..i + q]);
                        i += q + 1;
                        if i < b.len() && b[i] == b'"' {
                            s.push('"');
                            i += 1;
                            start = i;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push(Cow::Owned(s));
            if i < b.len() && b[i] != b',' {
                return Err(format!(
                    "unexpected character after quoted field in column {}",
                    out.len() - 1
                ));
            }
        } else {
            let end = line[i..].find(',').map_or(b.len(), |p| i + p);
            out.push(Cow::Borrowed(&line[i..end]));
            i = end;
        }
        if i >= b.len() {
            return Ok(out);
        }
        i += 1; // the comma
    }
}

fn memchr_quote(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'"')
}

/// Whether a first line looks like this CSV: enough columns, a timestamp in
/// column 1 and an audit stage in column 10.
pub(crate) fn looks_like_audit_csv(first_line: &str) -> bool {
    match fields(first_line) {
        Ok(f) => {
            f.len() >= 12
                && parse_rfc3339(&f[1]).is_some()
                && matches!(
                    &*f[10],
                    "ResponseComplete" | "ResponseStarted" | "RequestReceived" | "Panic"
                )
        }
        Err(_) => false,
    }
}

/// The namespace in a request URI (`.../namespaces/<ns>/...`).
fn namespace_of_uri(uri: &str) -> &str {
    let path = uri.split('?').next().unwrap_or("");
    let mut parts = path.split('/');
    while let Some(p) = parts.next() {
        if p == "namespaces" {
            return parts.next().unwrap_or("");
        }
    }
    ""
}

/// The audit view of one CSV row; `Ok(None)` for a row of a stage other than
/// ResponseComplete (the others repeat it).
pub(crate) fn view<'v>(f: &'v [Cow<'_, str>]) -> Result<Option<AuditView<'v>>, String> {
    if f.len() != COLUMNS {
        return Err(format!(
            "expected {COLUMNS} CSV columns, found {} (truncated row?)",
            f.len()
        ));
    }
    if !matches!(&*f[10], "ResponseComplete" | "Panic") {
        return Ok(None);
    }
    let time = parse_rfc3339(&f[1])
        .ok_or_else(|| format!("column 1 {:?} is not an RFC 3339 timestamp", &*f[1]))?;
    let code = if f[11].is_empty() {
        None
    } else {
        Some(
            f[11]
                .parse::<i32>()
                .map_err(|_| format!("column 11 {:?} is not an HTTP status code", &*f[11]))?,
        )
    };
    let namespace = if f[7].is_empty() {
        namespace_of_uri(&f[8])
    } else {
        &f[7]
    };
    Ok(Some(AuditView {
        audit_id: &f[9],
        time,
        verb: &f[3],
        resource: &f[4],
        subresource: &f[5],
        namespace,
        name: &f[6],
        uid: "",
        code,
        message: "",
        user: &f[2],
        user_agent: "",
        request: None,
        response: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#""{""name"":""k8s-master-perfspec""}",2023-01-27T18:29:04.387565Z,system:kube-scheduler,create,pods,binding,my-pod,,/api/v1/namespaces/kps/pods/my-pod/binding,2c3961ba,ResponseComplete,201,,,"#;

    #[test]
    fn splits_quoted_fields() {
        let f = fields(ROW).unwrap();
        assert_eq!(f.len(), 15);
        assert_eq!(f[0], r#"{"name":"k8s-master-perfspec"}"#);
        assert_eq!(f[5], "binding");
        assert!(fields(r#""open,1"#).is_err());
        assert_eq!(fields("").unwrap().len(), 1);
    }

    #[test]
    fn row_to_view() {
        assert!(looks_like_audit_csv(ROW));
        let f = fields(ROW).unwrap();
        let v = view(&f).unwrap().unwrap();
        assert_eq!(
            (v.verb, v.resource, v.subresource),
            ("create", "pods", "binding")
        );
        assert_eq!(v.namespace, "kps");
        assert_eq!(v.code, Some(201));
        let short = fields("a,b,c").unwrap();
        assert!(view(&short)
            .unwrap_err()
            .contains("expected 15 CSV columns, found 3"));
    }
}
