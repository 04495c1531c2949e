//! Metric names: the ones the workers register, and the ones a PromQL
//! expression reads.
//!
//! Alert rules are only useful if the series they read exist. The names a
//! worker registers are found in its source, as the literal strings passed
//! to the `prometheus` crate (`"lunettes_..."`) or as a literal prefix
//! (`let p = "lunettes_x_";`) completed by `format!("{p}suffix")`, the two
//! styles the crates use. An expression's names are its identifiers outside
//! strings, label matchers and ranges that are neither functions nor
//! keywords, so a typo in a rule fails a test instead of silently never
//! firing.

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;

/// Crate directories whose sources register the workers' metrics.
pub const SOURCE_DIRS: [&str; 6] = ["ingest", "processor", "sinks", "runtime", "cli", "schemas"];

/// Names registered in the Rust sources under `dirs` (relative to the repository root).
pub fn registered_names(dirs: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in dirs {
        for path in crate::repo::files_under(dir, &[".rs"]) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            names.extend(names_in_source(&text, &path));
        }
    }
    names
}

/// Names registered in one source file (see the module docs for the styles).
pub fn names_in_source(text: &str, _path: &Path) -> BTreeSet<String> {
    let literal = Regex::new(r#""(lunettes_[a-z0-9_]*[a-z0-9])""#).expect("valid regex");
    let prefix =
        Regex::new(r#"let\s+(\w+)\s*=\s*"(lunettes_[a-z0-9_]*_)"\s*;"#).expect("valid regex");
    let mut names: BTreeSet<String> = literal
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect();
    for c in prefix.captures_iter(text) {
        let var = &c[1];
        let pre = &c[2];
        let uses = Regex::new(&format!(r#""\{{{var}\}}([a-z0-9_]+)""#)).expect("valid regex");
        for u in uses.captures_iter(text) {
            names.insert(format!("{pre}{}", &u[1]));
        }
    }
    names
}

/// The series names a registered metric exposes: itself, and for a
/// histogram its `_bucket`, `_sum` and `_count` series.
pub fn exposed_series(registered: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in registered {
        out.insert(n.clone());
        for s in ["_bucket", "_sum", "_count"] {
            out.insert(format!("{n}{s}"));
        }
    }
    out
}

const KEYWORDS: [&str; 14] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "atan2",
];

/// Metric (or recording rule) names read by a PromQL expression.
pub fn expression_names(expr: &str) -> BTreeSet<String> {
    // Drop string literals, label matchers, ranges and grouping lists.
    let mut cleaned = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                cleaned.push(' ');
            }
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            _ => cleaned.push(c),
        }
    }
    // Grouping lists: `by (a, b)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`.
    let grouping = Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
        .expect("valid regex");
    let cleaned = grouping.replace_all(&cleaned, " ");
    let ident = Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").expect("valid regex");
    let mut out = BTreeSet::new();
    for m in ident.captures_iter(&cleaned) {
        if m.get(1).is_some() {
            continue; // a function call
        }
        let start = m.get(0).map_or(0, |g| g.start());
        if cleaned[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            continue; // the unit of a duration (`5m`) or an exponent
        }
        let name = m[0].trim();
        // Keywords are not metrics.
        if KEYWORDS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        out.insert(name.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_in_both_registration_styles() {
        let src = r#"
            let c = IntCounter::new("lunettes_a_total", "help")?;
            let p = "lunettes_sink_";
            Opts::new(format!("{p}rows_total"), "Rows.");
            HistogramOpts::new(format!("{p}insert_seconds"), "x");
            let not_metric = "lunettes_";
        "#;
        let names = names_in_source(src, Path::new("x.rs"));
        let want: BTreeSet<String> = [
            "lunettes_a_total",
            "lunettes_sink_rows_total",
            "lunettes_sink_insert_seconds",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn reads_metric_names_out_of_promql() {
        let e = r#"sum by (cluster) (rate(lunettes_x_total{result=~"fail|abandoned", code!="by"}[5m]))
            / on (cluster) group_left (namespace) sum(rate(lunettes_y_bucket[1h] offset 5m)) > bool 0.5
            and lunettes:ratio:rate5m > (14.4 * 0.001) unless up == 0"#;
        let names = expression_names(e);
        let want: BTreeSet<String> = [
            "lunettes_x_total",
            "lunettes_y_bucket",
            "lunettes:ratio:rate5m",
            "up",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(names, want);
    }
}
