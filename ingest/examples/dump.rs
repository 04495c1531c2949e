//! Prints what each input file normalizes to (a development aid).
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let mut n = lunettes_ingest::Normalizer::new("c");
        let mut out = Vec::new();
        let r = n.normalize_document(&path, &bytes, &mut out);
        println!(
            "== {path}: records {} events {} skipped {} errors {}",
            r.records,
            r.events,
            r.skipped,
            r.errors.len()
        );
        for e in &r.errors {
            println!("   ERR {e}");
        }
        if std::env::var("V").is_ok() {
            for h in &out {
                println!(
                    "   {} {:?} {:?} {}/{} uid={} ops={:?} ev={:?} dedup={} code={:?}",
                    lunettes_schemas::time::format_rfc3339_micros(h.time_us),
                    h.source,
                    h.time_precision,
                    h.object.namespace,
                    h.object.name,
                    h.object.uid,
                    h.operations,
                    h.event.as_ref().map(|e| (&e.reason, e.count)),
                    h.dedup_id,
                    h.response_code
                );
            }
        }
    }
}
