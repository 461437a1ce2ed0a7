"""The Grafana dashboard in deploy/grafana/ stays a valid dashboard that asks only for
metrics the gateways export (docs/deploy.md, "Monitoring").

Offline checks: the JSON is a Grafana dashboard (schema 39) whose data source is
chosen at import (the ``DS_PROMETHEUS`` input) or from the ``datasource`` variable,
with a gateway (``instance``) filter; every panel has a unique id and a place on the
grid, and no two overlap; every query names only series that prometheus_client's
default registry exposes once the gateway is imported, so a renamed metric cannot
leave a panel silently empty.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "strangers.json"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"

METRIC = re.compile(r"\bstrangers_[a-z_]+")
SELECTOR = re.compile(r"\b(strangers_[a-z_]+)(\{[^}]*\})?")
ROWS = ("Chatters", "Chat", "Video", "Safety & moderation", "Gateway")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = []
    for panel in panels():
        for target in panel.get("targets", []):
            found.append((f"panel {panel['id']} {panel['title']!r}", target["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {variable['name']}", text))
    return found


def exported_series() -> set[str]:
    """The names of the series /metrics can carry, from prometheus_client's default
    registry after importing the gateway (which imports every module that registers a
    metric: the frame checks, the rate limits, the origins, the records).

    ``collect()`` gives metric families, not series: a counter's family drops its
    ``_total`` and a histogram's has none of its ``_bucket``, ``_sum`` and ``_count``;
    labelled metrics have no samples until a label value is used. So the series names
    are derived from each family's name and type, as the exposition format writes them.
    """
    from prometheus_client import REGISTRY

    # Imported for their side effect: each module registers its metrics at import.
    importlib.import_module("strangers.gateway.app")
    importlib.import_module("strangers.gateway.metrics")

    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
        "stateset": ("",),
        "enum": ("",),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "unknown": ("",),
    }
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("strangers_"):
            names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_dashboard_is_a_grafana_dashboard():
    board = dashboard()
    assert board["schemaVersion"] == 39
    assert board["uid"] and board["title"]
    assert isinstance(board["panels"], list) and board["panels"]
    ids = [panel["id"] for panel in panels()]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_data_source_is_chosen_at_import_or_from_the_variable():
    board = dashboard()
    (source_input,) = [i for i in board["__inputs"] if i["name"] == "DS_PROMETHEUS"]
    assert source_input["type"] == "datasource" and source_input["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["type"] == "query" and instance["datasource"] == DATASOURCE
    assert instance["includeAll"] and instance["multi"] and instance["allValue"] == ".*"
    # Every panel and every query reads the chosen data source: none is pinned to a uid
    # that exists only on the machine the dashboard was drawn on.
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]


def test_panels_have_a_place_on_the_grid_and_do_not_overlap():
    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        grid = panel["gridPos"]
        x, y, w, h = (grid[key] for key in ("x", "y", "w", "h"))
        assert all(isinstance(v, int) and v >= 0 for v in (x, y, w, h)), panel["title"]
        assert w > 0 and h > 0 and x + w <= 24, panel["title"]
        for column in range(x, x + w):
            for line in range(y, y + h):
                assert (column, line) not in taken, (
                    f"{panel['title']!r} overlaps {taken[(column, line)]!r}"
                )
                taken[(column, line)] = panel["title"]


def test_the_rows_are_the_documented_ones():
    rows = [panel["title"] for panel in dashboard()["panels"] if panel["type"] == "row"]
    assert tuple(rows) == ROWS


def test_every_panel_has_queries_with_unique_ref_ids():
    for panel in panels():
        if panel["type"] == "row":
            continue
        targets = panel["targets"]
        assert targets, panel["title"]
        for target in targets:
            assert isinstance(target["expr"], str) and target["expr"].strip(), panel["title"]
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_query_is_balanced_and_filters_by_the_chosen_gateways():
    for where, expr in queries():
        for opening, closing in ("()", "[]", "{}"):
            depth = 0
            for character in expr:
                depth += character == opening
                depth -= character == closing
                assert depth >= 0, f"{where}: unbalanced {opening}{closing} in {expr}"
            assert depth == 0, f"{where}: unbalanced {opening}{closing} in {expr}"
        if where.startswith("variable"):
            continue
        for name, matchers in SELECTOR.findall(expr):
            assert 'instance=~"$instance"' in matchers, f"{where}: {name} ignores $instance"


def test_every_metric_the_dashboard_asks_for_is_exported():
    exported = exported_series()
    assert exported, "no strangers_ metric registered"
    asked = {name: where for where, expr in queries() for name in METRIC.findall(expr)}
    assert asked, "the dashboard asks for no strangers_ metric"
    missing = {name: where for name, where in asked.items() if name not in exported}
    assert not missing, f"not exported by the gateway: {missing}"


def test_prometheus_config_scrapes_the_gateways():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "strangers"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert len(targets) >= 2 and len(set(targets)) == len(targets)
    # The dashboard's instance variable lists what Prometheus labels each target with.
    assert all(re.fullmatch(r"[\w.-]+:\d+", target) for target in targets), targets
