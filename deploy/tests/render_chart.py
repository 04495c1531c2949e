#!/usr/bin/env python3
"""Renders and lints a Helm chart with Helm's own Go SDK (PyPI helm-python-sdk,
a C binding of helm.sh/helm/v4), offline, for the deploy tests.

Usage: render_chart.py CHART_DIR VALUES_JSON RELEASE NAMESPACE
Prints one JSON object: {"manifests": {template path: text}, "lint": report}.
Exits 1 with the error on stderr when the chart does not render.
"""
import json
import sys

import helm_python as helm


def main():
    chart_dir, values_json, release, namespace = sys.argv[1:5]
    values = json.loads(values_json)
    lint = helm.lint(chart_dir, values, strict=True, namespace=namespace)
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    json.dump({"manifests": manifests, "lint": lint}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints this verbatim
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
