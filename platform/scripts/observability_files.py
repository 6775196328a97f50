#!/usr/bin/env python3
"""Reads the observability files for sync-observability.sh (Python 3 + PyYAML, Debian python3-yaml).

  observability_files.py check-dashboards DIR   structural checks of DIR/dashboards/*.json
  observability_files.py check-alerts DIR       every alert of DIR/alerts.yaml has severity and service
                                                labels and a runbook_url to a section of runbook.md
  observability_files.py queries DIR            every PromQL expression, one JSON object per line:
                                                {"source", "expr" (as written), "promql" (Grafana
                                                variables replaced, so Prometheus can parse it)}
  observability_files.py rules DIR OUT          the same expressions as recording rules in OUT, for
                                                `promtool check rules` (prints "index<TAB>source")

Sources: dashboards/*.json (panel targets, label_values() of query variables), alerts.yaml (every rule), SLO.md and runbook.md
(```promql blocks; one expression per block, `#` lines are comments).
"""
import glob
import json
import os
import re
import sys

import yaml

# Grafana's variables, replaced by values that keep the query valid PromQL.
GRAFANA_VARIABLES = [
    (re.compile(r"\$__rate_interval|\$\{__rate_interval\}"), "5m"),
    (re.compile(r"\$__interval|\$\{__interval\}"), "1m"),
    (re.compile(r"\$__range|\$\{__range\}"), "1h"),
    (re.compile(r"\$\{?instance\}?"), ".*"),
]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def load_dashboards(directory):
    files = sorted(glob.glob(os.path.join(directory, "dashboards", "*.json")))
    if not files:
        fail(f"no dashboards in {directory}/dashboards")
    dashboards = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                dashboards.append((path, json.load(f)))
        except (OSError, json.JSONDecodeError) as e:
            fail(f"{path}: not valid JSON: {e}")
    return dashboards


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else []


def check_dashboards(directory):
    problems = []
    for path, d in load_dashboards(directory):
        name = os.path.relpath(path, directory)
        if not d.get("uid"):
            problems.append(f"{name}: no uid (sync keys dashboards by uid)")
        if d.get("schemaVersion") != 39:
            problems.append(f"{name}: schemaVersion is {d.get('schemaVersion')!r}, expected 39")
        variables = d.get("templating", {}).get("list", [])
        ds_vars = [v["name"] for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
        if not ds_vars:
            problems.append(f"{name}: no Prometheus datasource variable")
        for panel in panels_of(d):
            if panel.get("type") == "row":
                continue
            title = panel.get("title", "?")
            targets = panel.get("targets", [])
            if not targets:
                problems.append(f"{name}: panel '{title}' has no query")
            for t in targets:
                uid = (t.get("datasource") or panel.get("datasource") or {}).get("uid", "")
                if not any(uid in (f"${v}", f"${{{v}}}") for v in ds_vars):
                    problems.append(f"{name}: panel '{title}' does not use the datasource variable")
                if not str(t.get("expr", "")).strip():
                    problems.append(f"{name}: panel '{title}' query {t.get('refId')} is empty")
    if problems:
        fail("dashboard check failed:\n  " + "\n  ".join(problems))


def load_rules(directory):
    path = os.path.join(directory, "alerts.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        fail(f"{path}: {e}")


def github_anchor(heading):
    """The anchor GitHub (and most renderers) give a markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def check_alerts(directory):
    runbook = os.path.join(directory, "runbook.md")
    text = open(runbook, encoding="utf-8").read() if os.path.exists(runbook) else ""
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    problems = []
    for group in load_rules(directory).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert")
            if not name:
                continue
            labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
            if labels.get("severity") not in ("critical", "warning"):
                problems.append(f"{name}: severity label must be critical or warning")
            if labels.get("service") != "orchestrator":
                problems.append(f"{name}: service label must be orchestrator")
            url = annotations.get("runbook_url", "")
            if not url.startswith("observability/runbook.md#") or url.split("#", 1)[1] not in anchors:
                problems.append(f"{name}: runbook_url {url!r} is not a section of runbook.md")
            if not annotations.get("summary"):
                problems.append(f"{name}: no summary annotation")
    if problems:
        fail("alert check failed:\n  " + "\n  ".join(problems))


def markdown_queries(path, name):
    if not os.path.exists(path):
        return
    text = open(path, encoding="utf-8").read()
    for i, block in enumerate(re.findall(r"^```promql\n(.*?)^```", text, re.S | re.M), 1):
        lines = [l for l in block.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        if lines:
            yield f"{name} promql block {i}", "\n".join(lines)


def queries(directory):
    for path, d in load_dashboards(directory):
        name = os.path.relpath(path, directory)
        for panel in panels_of(d):
            for t in panel.get("targets", []):
                if t.get("expr"):
                    yield f"{name} panel '{panel.get('title')}' {t.get('refId')}", t["expr"]
        # Query variables: Grafana's label_values(<selector>, <label>) reads the selector's series.
        for v in d.get("templating", {}).get("list", []):
            query = v.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            m = re.match(r"^label_values\((.+),\s*\w+\)$", query.strip()) if v.get("type") == "query" else None
            if m:
                yield f"{name} variable '{v.get('name')}'", m.group(1)
    for group in load_rules(directory).get("groups", []):
        for rule in group.get("rules", []):
            yield f"alerts.yaml {rule.get('alert') or rule.get('record')}", str(rule.get("expr", ""))
    for md in ("SLO.md", "runbook.md"):
        yield from markdown_queries(os.path.join(directory, md), md)


def parseable(expr):
    for pattern, value in GRAFANA_VARIABLES:
        expr = pattern.sub(value, expr)
    return expr


def main(argv):
    if len(argv) < 3:
        fail(__doc__.strip().splitlines()[2].strip())
    command, directory = argv[1], argv[2]
    if command == "check-dashboards":
        check_dashboards(directory)
    elif command == "check-alerts":
        check_alerts(directory)
    elif command == "queries":
        for source, expr in queries(directory):
            print(json.dumps({"source": source, "expr": expr, "promql": parseable(expr)}))
    elif command == "rules" and len(argv) == 4:
        found = list(queries(directory))
        rules = [{"record": f"validate:query_{i}", "expr": parseable(expr)} for i, (_, expr) in enumerate(found)]
        with open(argv[3], "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "observability-queries", "rules": rules}]}, f, sort_keys=False, width=1 << 20)
        for i, (source, _) in enumerate(found):
            print(f"validate:query_{i}\t{source}")
    else:
        fail(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
