//! The Helm chart rendered by Helm itself.
//!
//! No `helm` binary can be installed here, but PyPI's `helm-python-sdk`
//! ships Helm v4's Go SDK as a shared library: `render_chart.py` (beside
//! this crate's manifest) loads the chart, lints it (`helm lint --strict`)
//! and renders it offline exactly as `helm template` would. When the package
//! is missing, [`render`] installs the pinned version with pip first (the
//! same way `deploy/dev/install.sh` installs the ClickHouse engine).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The pinned helm-python-sdk version (Helm SDK v4.2.3).
pub const HELM_SDK_VERSION: &str = "0.2.2";

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Template path -> YAML documents it rendered (empty ones dropped;
    /// NOTES.txt is not a manifest and is left out).
    pub manifests: BTreeMap<String, Vec<serde_yaml::Value>>,
    /// `helm lint --strict` report: `{"messages": [...], "errors": [...]}`.
    pub lint: Value,
}

fn python() -> String {
    std::env::var("LUNETTES_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Makes sure `helm_python` imports, installing the pinned package if needed.
pub fn ensure_sdk() -> Result<(), String> {
    let ok = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    if ok(Command::new(python()).args(["-c", "import helm_python"])) {
        return Ok(());
    }
    let out = Command::new(python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("helm-python-sdk=={HELM_SDK_VERSION}"))
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install helm-python-sdk=={HELM_SDK_VERSION} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Renders `chart` (relative to the repository root) with `values` merged
/// over its `values.yaml`, as release `release` in `namespace`.
pub fn render(
    chart: &str,
    values: &Value,
    release: &str,
    namespace: &str,
) -> Result<Rendered, String> {
    ensure_sdk()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("render_chart.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(crate::repo::root().join(chart))
        .arg(values.to_string())
        .arg(release)
        .arg(namespace)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "helm render of {chart} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("render output is not JSON: {e}"))?;
    let mut manifests = BTreeMap::new();
    for (path, text) in v["manifests"].as_object().into_iter().flatten() {
        let text = text.as_str().unwrap_or("");
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue; // NOTES.txt and helpers are not manifests
        }
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| format!("{path} renders invalid YAML: {e}\n{text}"))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
        manifests.insert(path.clone(), docs);
    }
    Ok(Rendered {
        manifests,
        lint: v["lint"].clone(),
    })
}
