//! Which format a whole input is in, and how it splits into records.
//!
//! Users hand us whatever they have: an audit log (JSON lines), a webhook
//! batch or `kubectl get -o json` output (one JSON document), `kubectl get -o
//! yaml` or a recording (YAML, several documents), GKE log exports (YAML or
//! JSON), or the audit CSV. Detection looks only at the start of the input, so
//! it is cheap, and splitting happens before parsing so that one bad record
//! never takes its neighbours with it.

use lunettes_schemas::time::parse_rfc3339;
use serde::de::IgnoredAny;

use crate::csv;

/// The shape of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Nothing but whitespace or comments.
    Empty,
    /// One JSON value (object or array) spanning the whole input.
    JsonDocument,
    /// One JSON value per line.
    JsonLines,
    /// The Logstash audit CSV.
    AuditCsv,
    /// YAML, possibly several `---`-separated documents.
    Yaml,
}

/// How many leading lines are tried when the first JSON value does not parse.
const PROBE_LINES: usize = 5;

/// Detects the format of `text`.
pub(crate) fn detect(text: &str) -> Format {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.is_empty() {
        return Format::Empty;
    }
    if t.starts_with('{') || t.starts_with('[') {
        let mut stream = serde_json::Deserializer::from_str(t).into_iter::<IgnoredAny>();
        return match stream.next() {
            Some(Ok(_)) if t[stream.byte_offset()..].trim().is_empty() => Format::JsonDocument,
            Some(Ok(_)) => Format::JsonLines,
            _ => {
                // The first value is broken. If some line parses on its own,
                // this is JSON lines with a bad line; otherwise one broken document.
                let any_line_ok = t
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(PROBE_LINES)
                    .any(|l| serde_json::from_str::<IgnoredAny>(l).is_ok());
                if any_line_ok {
                    Format::JsonLines
                } else {
                    Format::JsonDocument
                }
            }
        };
    }
    let first_line = t.lines().next().unwrap_or("");
    if csv::looks_like_audit_csv(first_line) {
        return Format::AuditCsv;
    }
    if t.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    }) {
        return Format::Empty;
    }
    Format::Yaml
}

/// One YAML document of a multi-document stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlDoc<'a> {
    /// 1-based line of the document's first line.
    pub line: u64,
    pub text: &'a str,
    /// Observation time from a leading `# {"time":"..."}` comment.
    pub observed: Option<(i64, bool)>,
}

fn is_separator(line: &str) -> bool {
    let l = line.trim_end();
    l == "---" || l.starts_with("--- ") || l.starts_with("---\t") || l == "..."
}

/// Splits a YAML stream into documents at `---` / `...` lines, dropping
/// documents that hold only comments and blank lines.
pub(crate) fn yaml_documents(text: &str) -> Vec<YamlDoc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize; // byte offset of current doc
    let mut start_line = 1u64;
    let mut offset = 0usize;
    fn push<'t>(text: &'t str, from: usize, to: usize, line: u64, docs: &mut Vec<YamlDoc<'t>>) {
        let chunk = &text[from..to];
        let has_content = chunk.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        });
        if has_content {
            docs.push(YamlDoc {
                line,
                text: chunk,
                observed: observed_comment(chunk),
            });
        }
    }
    for (line_no, line) in (1u64..).zip(text.split_inclusive('\n')) {
        if is_separator(line.trim_end_matches(['\n', '\r'])) {
            push(text, start, offset, start_line, &mut docs);
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    push(text, start, text.len(), start_line, &mut docs);
    docs
}

/// The time in a leading comment such as `# {"time":"2021-05-19T09:42:58.640117041Z",...}`.
fn observed_comment(chunk: &str) -> Option<(i64, bool)> {
    for line in chunk.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let comment = l.strip_prefix('#')?;
        if let Some(i) = comment.find("\"time\"") {
            let rest = comment[i + 6..]
                .trim_start()
                .strip_prefix(':')?
                .trim_start();
            let rest = rest.strip_prefix('"')?;
            let end = rest.find('"')?;
            return parse_rfc3339(&rest[..end]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("  \n"), Format::Empty);
        assert_eq!(detect("# only a comment\n---\n"), Format::Empty);
        assert_eq!(detect("{\"a\":1}\n"), Format::JsonDocument);
        assert_eq!(detect("{\n  \"a\": 1\n}\n"), Format::JsonDocument);
        assert_eq!(detect("{\"a\":1}\n{\"a\":2}\n"), Format::JsonLines);
        assert_eq!(detect("{\"a\":\n{\"a\":2}\n"), Format::JsonLines);
        assert_eq!(detect("{\"a\":\n"), Format::JsonDocument);
        assert_eq!(detect("[1,2]"), Format::JsonDocument);
        assert_eq!(detect("kind: Pod\n"), Format::Yaml);
        assert_eq!(
            detect("\"{\"\"name\"\":\"\"m\"\"}\",2023-01-27T18:28:08.129781Z,u,get,pods,,,,/api,id,ResponseComplete,200,,,\n"),
            Format::AuditCsv
        );
    }

    #[test]
    fn splits_yaml_documents_with_lines_and_times() {
        let text = "---\n# {\"time\":\"2021-05-19T09:42:58.640117041Z\",\"kind\":\"Event\"}\nkind: Event\n---\n# only comment\n---\nkind: Pod\n...\n";
        let docs = yaml_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 2);
        assert!(docs[0].text.contains("kind: Event"));
        assert_eq!(docs[0].observed.map(|o| o.0 % 1_000_000), Some(640_117));
        assert_eq!(docs[1].line, 7);
        assert_eq!(docs[1].observed, None);
    }
}
