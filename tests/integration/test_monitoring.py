"""The shipped Prometheus alerting rules and Grafana dashboard
(packaging/monitoring/) reference only series the agent really serves: every
tcpstates_agent_* metric in their PromQL is on the running agent's /metrics,
and every label they match on exists on it with the value they compare
against.
"""

import json
import os
import re
import urllib.request

import yaml

import harness
from harness import check, log

MONITORING = os.path.join(harness.ROOT, "packaging", "monitoring")
RULES = os.path.join(MONITORING, "tcpstates-agent.rules.yml")
DASHBOARD = os.path.join(MONITORING, "tcpstates-agent.dashboard.json")

# Labels Prometheus attaches to every scraped series, and its own metrics.
TARGET_LABELS = {"instance", "job"}
PROMETHEUS_METRICS = {"up"}

METRIC = re.compile(r"\b(tcpstates_agent_[A-Za-z0-9_]*)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
SERIES = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?$")


def served_series(port):
    """({series name: [{label: value}, ...]}, {series name: its family}) from
    the agent's /metrics; a histogram family has _bucket, _sum and _count."""
    served = {}
    for key in harness.metrics(port):
        m = SERIES.match(key)
        check(m, f"unparsable series {key!r}")
        labels = dict((k, v) for k, _, v in MATCHER.findall(m.group(2) or ""))
        served.setdefault(m.group(1), []).append(labels)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", r.read().decode(), re.M))
    family = {}
    for name in served:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        family[name] = base if types.get(base) == "histogram" else name
        check(family[name] in types, f"{name} has no # TYPE line")
    return served, family


def rule_expressions():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    exprs = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            check("alert" in rule and rule.get("expr"), f"rule without alert or expr: {rule}")
            check(rule.get("labels", {}).get("severity") in ("warning", "critical"),
                  f"{rule['alert']}: severity must be warning or critical")
            check(rule.get("annotations", {}).get("summary"), f"{rule['alert']}: no summary")
            exprs.append((f"alert {rule['alert']}", rule["expr"]))
    return exprs


def dashboard_expressions():
    with open(DASHBOARD) as f:
        doc = json.load(f)
    exprs = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "datasource":
                return  # the data source picker, not a query
            title = node.get("title", where)
            for key, value in node.items():
                if key == "expr" or (key in ("query", "definition") and isinstance(value, str)):
                    exprs.append((f"panel {title!r}", value))
                else:
                    walk(value, title)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(doc, "dashboard")
    return exprs


def check_expression(where, expr, served):
    """Every metric the expression selects is served, and each of its label
    matchers can match a served series."""
    names = METRIC.findall(expr)
    if not names:
        # Only Prometheus's own scrape health may stand alone.
        first = re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", expr)
        check(first and first.group(1) in PROMETHEUS_METRICS,
              f"{where}: no tcpstates_agent_ metric in {expr!r}")
    for name, selector in names:
        check(name in served, f"{where}: {name} is not on the agent's /metrics")
        for label, op, value in MATCHER.findall(selector or ""):
            if label in TARGET_LABELS:
                continue
            values = {s.get(label) for s in served[name]} - {None}
            check(values, f"{where}: {name} has no label {label!r}")
            if op == "=":
                check(value in values, f"{where}: {name}{{{label}={value!r}}} matches nothing "
                      f"(served: {sorted(values)})")
            elif op == "!=":
                check(values - {value}, f"{where}: {name}{{{label}!={value!r}}} matches nothing")
            else:
                rx = re.compile(value)
                matched = {v for v in values if rx.fullmatch(v)}
                check(matched if op == "=~" else values - matched,
                      f"{where}: {name}{{{label}{op}{value!r}}} matches nothing")
    return [n for n, _ in names]


def main():
    with harness.KafkaPeer() as peer, harness.tempdir() as d:
        mport = harness.free_port_block()
        netns = os.stat("/proc/self/ns/net").st_ino
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, netns)
        agent = harness.Agent([], config_text=cfg, workdir=d)
        served, family = served_series(mport)
        check(agent.stop() == 0, f"agent exit status:\n{agent.log_text()}")
    log(f"the agent serves {len(served)} metrics")

    exprs = rule_expressions() + dashboard_expressions()
    referenced = set()
    for where, expr in exprs:
        referenced.update(check_expression(where, expr, served))
    log(f"{len(exprs)} expressions reference {len(referenced)} metrics, all served")
    # The dashboard is the operator's one view: it shows every metric family.
    shown = set()
    for where, expr in dashboard_expressions():
        shown.update(family[n] for n, _ in METRIC.findall(expr))
    missing = set(family.values()) - shown
    check(not missing, f"metrics not on the dashboard: {sorted(missing)}")
    log("the dashboard shows every metric the agent serves")


if __name__ == "__main__":
    harness.run_test(main)
