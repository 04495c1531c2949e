//! Every `lunettes` command in the deployment files is a real subcommand of
//! the built binary, with flags it accepts, and every `LUNETTES_*` variable
//! they set is one the binary reads.
//!
//! The commands are found by convention (checked with a YAML parser by the
//! `lunettes-deploy-tests` crate): in `docker-compose.yml` they are the
//! one-line JSON arrays after `command:` (a `sh -c` script is split at `&&`
//! and `;`), in the Helm templates the one-line arrays after `args:`, with
//! template actions only inside quoted strings. Each is resolved against
//! `lunettes ... --help` word by word, so a renamed subcommand or flag fails
//! here instead of in a container that restarts forever.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// `lunettes <path> --help`, or why it failed.
fn help(path: &[String]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_lunettes"))
        .args(path)
        .arg("--help")
        .output()
        .map_err(|e| format!("cannot run lunettes: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Subcommand names listed under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with(' ') {
                break;
            }
            if let Some(word) = line.split_whitespace().next() {
                if word != "help" {
                    out.push(word.trim_end_matches(',').to_string());
                }
            }
        }
    }
    out
}

/// Every `--flag` mentioned in a help text.
fn flags(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in help.match_indices("--") {
        let name: String = help[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !name.is_empty() {
            out.insert(format!("--{name}"));
        }
    }
    out
}

/// Splits a shell command into words: double quotes group, `$(...)` stays whole.
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut paren = 0;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' => {
                paren += 1;
                cur.push(c);
            }
            ')' => {
                paren -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted && paren == 0 => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The lunettes argument lists (without the program name) of one command.
fn lunettes_invocations(command: &[String]) -> Vec<Vec<String>> {
    if command.len() == 3 && command[0] == "sh" && command[1] == "-c" {
        let script = command[2].replace("$$", "$");
        return script
            .split("&&")
            .flat_map(|s| s.split(';'))
            .map(|s| s.trim().trim_start_matches("exec ").trim())
            .filter(|s| s.starts_with("lunettes "))
            .map(|s| shell_words(s).into_iter().skip(1).collect())
            .collect();
    }
    vec![command.to_vec()]
}

/// (origin, argument list) of every command in the deployment files.
fn deployment_commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (n, line) in read("docker-compose.yml").lines().enumerate() {
        if let Some(rest) = line.trim().strip_prefix("command: [") {
            let json = format!("[{rest}");
            let words: Vec<String> = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("docker-compose.yml:{}: not a JSON array: {e}", n + 1));
            for inv in lunettes_invocations(&words) {
                out.push((format!("docker-compose.yml:{}", n + 1), inv));
            }
        }
    }
    let dir = root().join("deploy/helm/lunettes/templates");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("template readable");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            if let Some(rest) = line.trim().strip_prefix("args: [") {
                // Template actions sit inside quoted strings: give them a placeholder value.
                let mut json = format!("[{rest}");
                while let (Some(a), Some(b)) = (json.find("{{"), json.find("}}")) {
                    json.replace_range(a..b + 2, "X");
                }
                let words: Vec<String> = serde_json::from_str(&json).unwrap_or_else(|e| {
                    panic!(
                        "helm {name}:{}: not a JSON array after templating: {e}",
                        n + 1
                    )
                });
                out.push((
                    format!("deploy/helm/lunettes/templates/{name}:{}", n + 1),
                    words,
                ));
            }
        }
    }
    out
}

/// Resolves `args` against the binary; returns the help text of the final
/// subcommand or the problem.
fn check(args: &[String]) -> Result<String, String> {
    let mut path: Vec<String> = Vec::new();
    let mut i = 0;
    loop {
        let h = help(&path)?;
        let subs = subcommands(&h);
        if subs.is_empty() {
            let known = flags(&h);
            for w in &args[i..] {
                if let Some(flag) = w.strip_prefix("--") {
                    let name = format!("--{}", flag.split('=').next().unwrap_or(""));
                    if !known.contains(&name) {
                        return Err(format!("`lunettes {}` has no flag {name}", path.join(" ")));
                    }
                }
            }
            return Ok(h);
        }
        match args.get(i) {
            Some(w) if subs.contains(w) => {
                path.push(w.clone());
                i += 1;
            }
            other => {
                return Err(format!(
                    "`lunettes {}` expects one of [{}], got {:?}",
                    path.join(" "),
                    subs.join(", "),
                    other
                ))
            }
        }
    }
}

#[test]
fn every_deployment_command_is_a_real_subcommand_with_real_flags() {
    let commands = deployment_commands();
    assert!(
        commands.len() >= 15,
        "found only {} commands",
        commands.len()
    );
    let mut problems = Vec::new();
    let mut helps = String::new();
    for (origin, args) in &commands {
        match check(args) {
            Ok(h) => helps.push_str(&h),
            Err(e) => problems.push(format!("{origin}: lunettes {}\n    {e}", args.join(" "))),
        }
    }
    // LUNETTES_* variables set by the deployment files are read by some command.
    let mut vars = BTreeSet::new();
    for text in [
        read("docker-compose.yml"),
        read("deploy/helm/lunettes/templates/_helpers.tpl"),
    ] {
        for line in text.lines() {
            let t = line.trim().trim_start_matches("- name: ");
            if let Some(name) = t.strip_prefix("LUNETTES_") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let rest = &t["LUNETTES_".len() + name.len()..];
                if rest.starts_with(':') || rest.is_empty() {
                    vars.insert(format!("LUNETTES_{name}"));
                }
            }
        }
    }
    assert!(vars.contains("LUNETTES_BROKERS"), "{vars:?}");
    for v in &vars {
        if !helps.contains(&format!("env: {v}")) {
            problems.push(format!("{v} is set by the deployment files but no command reads it (no `[env: {v}]` in their --help)"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_resolver_rejects_what_the_binary_rejects() {
    assert!(check(&["simulate".into(), "--pods".into(), "3".into()]).is_ok());
    let e = check(&["simulate".into(), "--podz".into()]).unwrap_err();
    assert!(e.contains("--podz"), "{e}");
    let e = check(&["simulatee".into()]).unwrap_err();
    assert!(e.contains("simulate"), "{e}");
    assert_eq!(
        lunettes_invocations(&[
            "sh".into(),
            "-c".into(),
            "lunettes simulate --start \"$$(date -u +%Y)\" && exec lunettes analyze /x".into()
        ]),
        vec![
            vec![
                "simulate".to_string(),
                "--start".into(),
                "$(date -u +%Y)".into()
            ],
            vec!["analyze".to_string(), "/x".into()]
        ]
    );
}
