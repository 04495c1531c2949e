//! Which files to read, and which cluster each belongs to.
//!
//! Shared by `normalize` and `analyze`. The simulator lays a fleet out as
//! `DIR/<cluster>/...`, so a directory argument means: every immediate
//! subdirectory is a cluster named after it (its files, recursively, belong
//! to it), and files directly inside the directory belong to the default
//! cluster. `-` is stdin. The simulator's ground truth (`truth.jsonl`) is not
//! a cluster input and is left out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Files the simulator writes beside cluster directories that are not inputs.
const NOT_INPUTS: &[&str] = &["truth.jsonl"];

/// The `-` path: standard input.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Expands `paths` into `(cluster, file)` pairs, in a stable (sorted) order
/// within each directory. Errors when a path does not exist.
pub fn read_inputs(
    paths: &[PathBuf],
    default_cluster: &str,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for p in paths {
        if is_stdin(p) {
            out.push((default_cluster.to_string(), p.clone()));
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        if meta.is_file() {
            out.push((default_cluster.to_string(), p.clone()));
        } else if meta.is_dir() {
            for entry in sorted_entries(p)? {
                if entry.is_dir() {
                    let cluster = entry
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| default_cluster.to_string());
                    let mut files = Vec::new();
                    walk(&entry, &mut files)?;
                    out.extend(files.into_iter().map(|f| (cluster.clone(), f)));
                } else if is_input_file(&entry) {
                    out.push((default_cluster.to_string(), entry));
                }
            }
        } else {
            bail!("{}: not a file or directory", p.display());
        }
    }
    Ok(out)
}

fn is_input_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && !NOT_INPUTS.contains(&name.as_ref())
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: cannot list", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if is_input_file(&entry) {
            files.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_from_subdirectories() {
        let root = std::env::temp_dir().join(format!("lunettes-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("east/logs")).unwrap();
        std::fs::create_dir_all(root.join("west")).unwrap();
        for f in [
            "east/logs/audit.log",
            "east/events.yaml",
            "west/a.log",
            "top.json",
            "truth.jsonl",
            ".hidden",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let got = read_inputs(&[root.clone(), PathBuf::from("-")], "dflt").unwrap();
        let rel: Vec<(String, String)> = got
            .into_iter()
            .map(|(c, p)| {
                (
                    c,
                    p.strip_prefix(&root)
                        .map(|r| r.display().to_string())
                        .unwrap_or_else(|_| p.display().to_string()),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("east", "east/events.yaml"),
            ("east", "east/logs/audit.log"),
            ("dflt", "top.json"),
            ("west", "west/a.log"),
            ("dflt", "-"),
        ]
        .iter()
        .map(|(c, p)| (c.to_string(), p.to_string()))
        .collect();
        assert_eq!(rel, want);
        assert!(read_inputs(&[root.join("missing")], "d").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
