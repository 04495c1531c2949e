//! Grafana dashboards as the ClickHouse data source plugin runs them.
//!
//! A panel's SQL never reaches ClickHouse as written: the plugin's frontend
//! first replaces `$__conditionalAll(condition, $var)` (by `1=1` when the
//! variable is *All* or empty), then Grafana interpolates template variables
//! (a multi-value selection becomes `'a','b'`, a single value is inserted as
//! is), and the plugin's backend expands its time macros
//! (`pkg/macros/macros.go` of grafana/clickhouse-datasource). [`expand`]
//! does the same three steps so a test can run every panel on the real
//! engine. It supports exactly the macros the plugin defines and rejects
//! anything else (an unknown macro or variable, a macro argument that older
//! plugin versions would split wrongly), so a dashboard that passes here does
//! not depend on lenient parsing.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a panel's SQL cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `$__name` is not a macro of the plugin.
    #[error("unknown macro $__{0}")]
    UnknownMacro(String),
    /// A macro got the wrong number of arguments.
    #[error("macro $__{name} expects {expected} argument(s), got {got}")]
    ArgumentCount {
        /// Macro name.
        name: String,
        /// Arguments it takes.
        expected: usize,
        /// Arguments given.
        got: usize,
    },
    /// A macro argument that is not a plain column name.
    #[error("macro $__{name} argument {arg:?} must be a plain column name (older plugin versions split arguments on every comma and stop at the first ')')")]
    ComplexArgument {
        /// Macro name.
        name: String,
        /// The argument.
        arg: String,
    },
    /// Unbalanced parentheses after a macro.
    #[error("unbalanced parentheses after {0}")]
    Unbalanced(String),
    /// A `$name` that is not a dashboard variable.
    #[error("unknown template variable ${0}")]
    UnknownVariable(String),
    /// A `${name:format}` form (not supported here, keep dashboards simple).
    #[error("variable format ${{{0}}} is not supported; use ${{name}}")]
    UnsupportedFormat(String),
}

/// The value of a template variable for one expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarValue {
    /// A single value (textbox, constant, single-select): inserted as is.
    Single(String),
    /// A multi-select: inserted as `'a','b'`.
    Multi(Vec<String>),
    /// *All* of a variable with `includeAll`: `$__conditionalAll` becomes
    /// `1=1`; interpolation inserts every option, like Grafana without an
    /// `allValue`.
    All(Vec<String>),
}

/// What a dashboard query is expanded with.
#[derive(Debug, Clone)]
pub struct ExpandContext {
    /// Time range start, milliseconds since the epoch.
    pub from_ms: i64,
    /// Time range end, milliseconds since the epoch.
    pub to_ms: i64,
    /// The panel interval, milliseconds.
    pub interval_ms: i64,
    /// Template variables by name.
    pub vars: BTreeMap<String, VarValue>,
}

/// Expands `sql` as the plugin would: conditional-all, variables, macros.
pub fn expand(sql: &str, ctx: &ExpandContext) -> Result<String, ExpandError> {
    let sql = apply_conditional_all(sql, ctx)?;
    let sql = interpolate_variables(&sql, ctx)?;
    expand_macros(&sql, ctx)
}

/// Splits the text between balanced parentheses starting at `open` (the
/// index of `(`) into top-level comma-separated arguments; returns them and
/// the index just past the closing `)`.
fn macro_args(sql: &str, open: usize, what: &str) -> Result<(Vec<String>, usize), ExpandError> {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    args.push(sql[start..i].to_string());
                    return Ok((args, i + 1));
                }
            }
            b',' if !quoted && depth == 1 => {
                args.push(sql[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    Err(ExpandError::Unbalanced(what.to_string()))
}

fn apply_conditional_all(sql: &str, ctx: &ExpandContext) -> Result<String, ExpandError> {
    const MACRO: &str = "$__conditionalAll(";
    let mut sql = sql.to_string();
    // Innermost last, like the plugin (it scans with lastIndexOf).
    while let Some(at) = sql.rfind(MACRO) {
        let open = at + MACRO.len() - 1;
        let (args, end) = macro_args(&sql, open, "$__conditionalAll")?;
        if args.len() != 2 {
            return Err(ExpandError::ArgumentCount {
                name: "conditionalAll".into(),
                expected: 2,
                got: args.len(),
            });
        }
        let var = args[1]
            .trim()
            .trim_start_matches('$')
            .trim_start_matches('{')
            .trim_end_matches('}')
            .to_string();
        let value = ctx
            .vars
            .get(&var)
            .ok_or_else(|| ExpandError::UnknownVariable(var.clone()))?;
        let all = match value {
            VarValue::All(_) => true,
            VarValue::Single(s) => s.is_empty(),
            VarValue::Multi(v) => v.is_empty(),
        };
        let phrase = if all {
            "1=1".to_string()
        } else {
            args[0].clone()
        };
        sql.replace_range(at..end, &phrase);
    }
    Ok(sql)
}

fn format_value(value: &VarValue) -> String {
    let quoted = |v: &[String]| {
        v.iter()
            .map(|s| format!("'{}'", s.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(",")
    };
    match value {
        VarValue::Single(s) => s.clone(),
        VarValue::Multi(v) | VarValue::All(v) => quoted(v),
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn interpolate_variables(sql: &str, ctx: &ExpandContext) -> Result<String, ExpandError> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = sql[i..].find('$').map_or(sql.len(), |n| i + n);
            out.push_str(&sql[i..next]);
            i = next;
            continue;
        }
        let (name, end) = if bytes.get(i + 1) == Some(&b'{') {
            let close = sql[i..]
                .find('}')
                .map(|n| i + n)
                .ok_or_else(|| ExpandError::Unbalanced("${".into()))?;
            let inner = &sql[i + 2..close];
            if inner.contains(':') {
                return Err(ExpandError::UnsupportedFormat(inner.to_string()));
            }
            (inner.to_string(), close + 1)
        } else {
            let mut j = i + 1;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            (sql[i + 1..j].to_string(), j)
        };
        if name.starts_with("__") || name.is_empty() {
            // A macro (or a lone `$`): left for the backend.
            out.push('$');
            i += 1;
            continue;
        }
        let value = ctx
            .vars
            .get(&name)
            .ok_or_else(|| ExpandError::UnknownVariable(name.clone()))?;
        out.push_str(&format_value(value));
        i = end;
    }
    Ok(out)
}

fn date_time(ms: i64) -> String {
    format!("toDateTime({})", ms.div_euclid(1000))
}

fn date_time64(ms: i64) -> String {
    format!("fromUnixTimestamp64Milli({ms})")
}

fn expand_macros(sql: &str, ctx: &ExpandContext) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("$__") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let len = after.bytes().take_while(|&b| is_ident(b)).count();
        let name = &after[..len];
        let tail = &after[len..];
        let (args, consumed) = if tail.starts_with('(') {
            let (args, end) = macro_args(tail, 0, &format!("$__{name}"))?;
            let args: Vec<String> = args.iter().map(|a| a.trim().to_string()).collect();
            (args, end)
        } else {
            (Vec::new(), 0)
        };
        let args: Vec<String> = if args.len() == 1 && args[0].is_empty() {
            Vec::new()
        } else {
            args
        };
        let want = |n: usize| -> Result<(), ExpandError> {
            if args.len() != n {
                return Err(ExpandError::ArgumentCount {
                    name: name.to_string(),
                    expected: n,
                    got: args.len(),
                });
            }
            for a in &args {
                if !a.bytes().all(|b| is_ident(b) || b == b'.') || a.is_empty() {
                    return Err(ExpandError::ComplexArgument {
                        name: name.to_string(),
                        arg: a.clone(),
                    });
                }
            }
            Ok(())
        };
        let seconds = (ctx.interval_ms / 1000).max(1);
        let expansion = match name {
            "fromTime" => {
                want(0)?;
                date_time(ctx.from_ms)
            }
            "toTime" => {
                want(0)?;
                date_time(ctx.to_ms)
            }
            "fromTime_ms" => {
                want(0)?;
                date_time64(ctx.from_ms)
            }
            "toTime_ms" => {
                want(0)?;
                date_time64(ctx.to_ms)
            }
            "timeFilter" => {
                want(1)?;
                let c = &args[0];
                format!(
                    "{c} >= {} AND {c} <= {}",
                    date_time(ctx.from_ms),
                    date_time(ctx.to_ms)
                )
            }
            "timeFilter_ms" => {
                want(1)?;
                let c = &args[0];
                format!(
                    "{c} >= {} AND {c} <= {}",
                    date_time64(ctx.from_ms),
                    date_time64(ctx.to_ms)
                )
            }
            "timeInterval" => {
                want(1)?;
                format!(
                    "toStartOfInterval(toDateTime({}), INTERVAL {seconds} second)",
                    args[0]
                )
            }
            "timeInterval_ms" => {
                want(1)?;
                format!(
                    "toStartOfInterval(toDateTime64({}, 3), INTERVAL {} millisecond)",
                    args[0],
                    ctx.interval_ms.max(1)
                )
            }
            "interval_s" => {
                want(0)?;
                seconds.to_string()
            }
            other => return Err(ExpandError::UnknownMacro(other.to_string())),
        };
        out.push_str(&expansion);
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One query of one panel of a dashboard.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    /// Panel title.
    pub panel: String,
    /// Panel type (`timeseries`, `table`, `stat`, ...).
    pub panel_type: String,
    /// The query's refId.
    pub ref_id: String,
    /// The SQL as written in the dashboard.
    pub raw_sql: String,
}

/// A template variable of a dashboard.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Name used as `$name`.
    pub name: String,
    /// `query`, `custom`, `textbox`, `constant`, ...
    pub kind: String,
    /// The SQL of a `query` variable.
    pub query: Option<String>,
    /// Options of a `custom` variable.
    pub custom_options: Vec<String>,
    /// Multi-select.
    pub multi: bool,
    /// Offers *All*.
    pub include_all: bool,
}

/// Every panel query of a dashboard, rows' nested panels included.
pub fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    fn walk(panels: &[Value], out: &mut Vec<PanelQuery>) {
        for p in panels {
            if let Some(nested) = p["panels"].as_array() {
                walk(nested, out);
            }
            for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                out.push(PanelQuery {
                    panel: p["title"].as_str().unwrap_or("").to_string(),
                    panel_type: p["type"].as_str().unwrap_or("").to_string(),
                    ref_id: t["refId"].as_str().unwrap_or("").to_string(),
                    raw_sql: t["rawSql"].as_str().unwrap_or("").to_string(),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(
        dashboard["panels"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        &mut out,
    );
    out
}

/// The dashboard's template variables.
pub fn variables(dashboard: &Value) -> Vec<Variable> {
    let list = dashboard["templating"]["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    list.iter()
        .map(|v| {
            let query = match &v["query"] {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("rawSql")
                    .or_else(|| o.get("query"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
            let kind = v["type"].as_str().unwrap_or("").to_string();
            let custom_options = if kind == "custom" {
                query
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            } else {
                Vec::new()
            };
            Variable {
                name: v["name"].as_str().unwrap_or("").to_string(),
                kind,
                query,
                custom_options,
                multi: v["multi"].as_bool().unwrap_or(false),
                include_all: v["includeAll"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ExpandContext {
        let mut vars = BTreeMap::new();
        vars.insert(
            "cluster".into(),
            VarValue::Multi(vec!["a".into(), "b".into()]),
        );
        vars.insert("ns".into(), VarValue::All(vec!["x".into()]));
        vars.insert("uid".into(), VarValue::Single("u-1".into()));
        ExpandContext {
            from_ms: 1_700_000_000_123,
            to_ms: 1_700_003_600_999,
            interval_ms: 60_000,
            vars,
        }
    }

    #[test]
    fn expands_like_the_plugin() {
        let sql = "SELECT $__timeInterval(window_start) AS time FROM t WHERE $__timeFilter(window_start) \
                   AND $__conditionalAll(cluster IN (${cluster}), $cluster) \
                   AND $__conditionalAll(namespace IN ($ns), $ns) AND uid = '$uid' \
                   AND $__timeFilter_ms(created_at) AND x > $__fromTime AND $__interval_s > 0 \
                   AND $__timeInterval_ms(created_at) < $__toTime_ms";
        let got = expand(sql, &ctx()).unwrap();
        assert_eq!(
            got,
            "SELECT toStartOfInterval(toDateTime(window_start), INTERVAL 60 second) AS time FROM t \
             WHERE window_start >= toDateTime(1700000000) AND window_start <= toDateTime(1700003600) \
             AND cluster IN ('a','b') AND 1=1 AND uid = 'u-1' \
             AND created_at >= fromUnixTimestamp64Milli(1700000000123) AND created_at <= fromUnixTimestamp64Milli(1700003600999) \
             AND x > toDateTime(1700000000) AND 60 > 0 \
             AND toStartOfInterval(toDateTime64(created_at, 3), INTERVAL 60000 millisecond) < fromUnixTimestamp64Milli(1700003600999)"
        );
    }

    #[test]
    fn rejects_what_the_plugin_would_not_run() {
        let c = ctx();
        assert_eq!(
            expand("$__timeFilterz(a)", &c),
            Err(ExpandError::UnknownMacro("timeFilterz".into()))
        );
        assert!(matches!(
            expand("$__timeFilter(a, b)", &c),
            Err(ExpandError::ArgumentCount { .. })
        ));
        assert!(matches!(
            expand("$__timeFilter(toDate(a))", &c),
            Err(ExpandError::ComplexArgument { .. })
        ));
        assert_eq!(
            expand("x = $nope", &c),
            Err(ExpandError::UnknownVariable("nope".into()))
        );
        assert!(matches!(
            expand("${cluster:csv}", &c),
            Err(ExpandError::UnsupportedFormat(_))
        ));
        assert!(matches!(
            expand("$__timeFilter(a", &c),
            Err(ExpandError::Unbalanced(_))
        ));
    }

    #[test]
    fn empty_single_value_counts_as_all_and_quotes_are_escaped() {
        let mut c = ctx();
        c.vars.insert("uid".into(), VarValue::Single(String::new()));
        c.vars
            .insert("cluster".into(), VarValue::Multi(vec!["o'brien".into()]));
        assert_eq!(
            expand(
                "$__conditionalAll(uid = '$uid', $uid) AND c IN ($cluster)",
                &c
            )
            .unwrap(),
            "1=1 AND c IN ('o\\'brien')"
        );
    }
}
