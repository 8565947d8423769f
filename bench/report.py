"""Turn a run's results into the JSON document, a markdown table, and a latency plot.

The JSON always holds the headline keys ``pgcsms_msgs_s``, ``python_peer_msgs_s``,
``node_peer_msgs_s``, ``limit_msgs_s`` and ``p99_ms`` (null when the scenario did
not measure them), the scenario's own headline figures, ratios, the machine, the
settings, and every target's full results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["HEADLINE_KEYS", "build_document", "plot_latency", "write_json", "write_markdown"]

#: Keys every document carries at the top, whatever the scenario.
HEADLINE_KEYS = ("pgcsms_msgs_s", "python_peer_msgs_s", "node_peer_msgs_s", "limit_msgs_s",
                 "p99_ms")

_LABELS = {"pgcsms": "pgcsms", "python_peer": "python peer (ocpp lib)",
           "node_peer": "node peer (ocpp-rpc)", "limit": "limit (asyncpg → ocpp.parse)"}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 3)


def build_document(scenario: str, settings: Mapping[str, Any], machine: Mapping[str, Any],
                   outcome: Mapping[str, Any], started: str, finished: str,
                   notes: Iterable[str]) -> dict[str, Any]:
    """The JSON document of one run."""
    headline = dict(outcome.get("headline", {}))
    doc: dict[str, Any] = {key: headline.pop(key, None) for key in HEADLINE_KEYS}
    doc.update(headline)
    if scenario == "steady":
        pg = doc["pgcsms_msgs_s"]
        doc["ratios"] = {
            "pgcsms_vs_python_peer": _ratio(pg, doc["python_peer_msgs_s"]),
            "pgcsms_vs_node_peer": _ratio(pg, doc["node_peer_msgs_s"]),
            "pgcsms_vs_limit": _ratio(pg, doc["limit_msgs_s"]),
            "pgcsms_vs_limit_batched": _ratio(pg, doc.get("limit_batched_msgs_s")),
        }
    doc.update(
        scenario=scenario,
        started_at=started,
        finished_at=finished,
        settings=dict(settings),
        machine=dict(machine),
        notes=list(notes),
        targets=outcome.get("targets", {}),
    )
    errors = {name: t["error"] for name, t in doc["targets"].items() if "error" in t}
    if errors:
        doc["target_errors"] = errors
    for name, target in doc["targets"].items():
        quiet = target.get("quiet_before")
        if quiet and quiet["busy_cores"] >= OTHER_CORES_WARNING:
            doc["notes"].append(
                f"{name}: the machine was still busy ({quiet['busy_cores']} cores used by"
                f" others) after waiting {quiet['waited_s']} s for it to be quiet"
            )
    other = max(_other_cores(doc["targets"]), default=None)
    doc["max_other_cores"] = other
    if other is not None and other >= OTHER_CORES_WARNING:
        doc["notes"].append(
            f"other processes kept up to {other:.2f} cores busy during a measured window:"
            " those figures are disturbed (see cpu.other in the JSON)"
        )
    return doc


#: Cores used by processes outside the benchmark above which a window is disturbed.
OTHER_CORES_WARNING = 0.25


def _other_cores(node: Any) -> Iterable[float]:
    """Every ``cpu.other.cores`` figure anywhere in the results."""
    if isinstance(node, dict):
        cpu = node.get("cpu")
        if isinstance(cpu, dict) and isinstance(cpu.get("other"), dict):
            yield float(cpu["other"]["cores"])
        for value in node.values():
            yield from _other_cores(value)
    elif isinstance(node, list):
        for value in node:
            yield from _other_cores(value)


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


# -- markdown ---------------------------------------------------------------
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100 or digits == 0:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}" if abs(value) >= 1 else f"{value:.{digits + 2}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _cpu(entry: Mapping[str, Any], name: str, key: str = "cpu_s_per_1000_msgs") -> Any:
    return entry.get("cpu", {}).get(name, {}).get(key)


def _server_name(target: str) -> str:
    return target


def _machine_lines(doc: Mapping[str, Any]) -> list[str]:
    m = doc["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items() if v)
    rows = [
        ["CPU", m.get("cpu_model")], ["cores", m.get("cores")],
        ["memory", f"{m.get('memory_gib')} GiB"], ["kernel", m.get("kernel")],
        ["PostgreSQL", m.get("postgresql")], ["Python", m.get("python")],
        ["Node", m.get("node")], ["packages", packages],
    ]
    return ["## Machine", "", *_table(["", ""], rows)]


def _is_201(doc: Mapping[str, Any]) -> bool:
    return bool(doc.get("settings", {}).get("protocol") == "2.0.1")


def _steady_lines(doc: Mapping[str, Any]) -> list[str]:
    targets = doc["targets"]
    v201 = _is_201(doc)
    meter = "TransactionEvent" if v201 else "MeterValues"
    if v201:
        lines = ["## OCPP 2.0.1: closed loop, TransactionEvent Updated (4 sampled values),"
                 " one CALL outstanding per charger", ""]
    else:
        lines = ["## Closed loop, MeterValues (4 sampled values), one CALL outstanding per charger",
                 ""]
    rows = []
    for name in ("pgcsms", "python_peer", "node_peer"):
        t = targets.get(name)
        if t is None:
            continue
        if "error" in t:
            rows.append([_LABELS[name], "not measured", *([None] * 10)])
            continue
        c = t["closed"]
        lat = c["latency"]
        rows.append([
            _LABELS[name], c["msgs_s"], lat["p50_ms"], lat["p95_ms"], lat["p99_ms"],
            _cpu(c, _server_name(name)), _cpu(c, "postgres"),
            _cpu(c, _server_name(name), "cores"), _cpu(c, "postgres", "cores"),
            c.get("loadgen_cores"), _cpu(c, "other", "cores"), c.get("errors", 0),
        ])
    lines += _table(["server", "msg/s", "p50 ms", "p95 ms", "p99 ms",
                     "server CPU s / 1k msg", "PostgreSQL CPU s / 1k msg", "server cores",
                     "PostgreSQL cores", "load generator cores", "other cores", "errors"], rows)

    ratios = doc.get("ratios", {})
    if any(v is not None for v in ratios.values()):
        lines += ["Ratios: " + ", ".join(f"{k} = {_fmt(v, 2)}" for k, v in ratios.items()), ""]

    mix_rows = []
    for name in ("pgcsms", "python_peer", "node_peer"):
        t = targets.get(name)
        if not t or "error" in t:
            continue
        m = t["mix"]
        by = m["latency_by_action"]
        mix_rows.append([
            _LABELS[name], m["msgs_s"],
            *[by.get(a, {}).get("p99_ms") for a in (meter, "Heartbeat", "StatusNotification")],
            _cpu(m, _server_name(name)), _cpu(m, "postgres"), m.get("errors", 0),
        ])
    if mix_rows:
        lines += [f"## Closed loop, mix (80% {meter}{' Updated' if v201 else ''}, 10% Heartbeat,"
                  " 10% StatusNotification)", ""]
        lines += _table(["server", "msg/s", f"{meter} p99 ms", "Heartbeat p99 ms",
                         "StatusNotification p99 ms", "server CPU s / 1k msg",
                         "PostgreSQL CPU s / 1k msg", "errors"], mix_rows)

    open_rows = []
    for name in ("pgcsms", "python_peer", "node_peer"):
        t = targets.get(name)
        if not t or "error" in t:
            continue
        for p in t["open"]:
            lat = p["latency"]
            open_rows.append([
                _LABELS[name], f"{p['fraction_of_peak']:.0%}", p["offered_msgs_s"], p["msgs_s"],
                lat["p50_ms"], lat["p99_ms"], lat["max_ms"], p.get("saturated"),
                _cpu(p, "other", "cores"),
            ])
    if open_rows:
        lines += ["## Open loop at fixed offered rates (latency from the scheduled send time)", ""]
        lines += _table(["server", "of peak", "offered msg/s", "achieved msg/s", "p50 ms",
                         "p99 ms", "max ms", "saturated", "other cores"], open_rows)

    limit = targets.get("limit")
    if limit is not None:
        lines += [f"## Limit: ocpp.parse{'(..., 2.0.1)' if v201 else ''} through asyncpg,"
                  " no WebSocket", ""]
        if "error" in limit:
            lines += [f"Not measured: {limit['error'].splitlines()[0]}", ""]
        else:
            rows = []
            for form in ("single", "batched"):
                r = limit[form]
                rows.append([
                    f"{form} ({r['concurrency']} connections, {r['batch']} msg/round trip)",
                    r["msgs_s"], r["round_trip"]["p50_ms"], r["round_trip"]["p99_ms"],
                    _cpu(r, "postgres"), _cpu(r, "postgres", "cores"), r["client_cpu_s"],
                    _cpu(r, "other", "cores"), r["errors"],
                ])
            lines += _table(["form", "msg/s", "round trip p50 ms", "round trip p99 ms",
                             "PostgreSQL CPU s / 1k msg", "PostgreSQL cores", "client CPU s",
                             "other cores", "errors"], rows)
    return lines


def _idle_lines(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, t in doc["targets"].items():
        if "error" in t:
            rows.append([_LABELS.get(name, name), "not measured"] + [None] * 6)
            continue
        hb = t["heartbeats"]
        rows.append([
            _LABELS.get(name, name), t["connected_at_end"], t["rss_base_mib"],
            t["rss_loaded_mib"], t["rss_per_connection_kib"],
            (t.get("db_connections") or {}).get("total"), hb["latency"]["p99_ms"],
            hb.get("cpu", {}).get(name, {}).get("cores"),
        ])
    return ["## Idle: connected chargers sending heartbeats", "",
            *_table(["server", "connected", "RSS before MiB", "RSS connected MiB",
                     "RSS per connection KiB", "DB connections", "Heartbeat p99 ms",
                     "server cores busy"], rows)]


def _storm_lines(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, t in doc["targets"].items():
        if "error" in t:
            rows.append([_LABELS.get(name, name), "not measured", *([None] * 7)])
            continue
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(t["error_kinds"].items()))
        rows.append([
            _LABELS.get(name, name), f"{t['accepted']:,}/{t['chargers']:,}",
            t["seconds_to_all_accepted"], t["seconds_to_last_accepted"], t["attempts"],
            t["errors"], kinds, _cpu(t, name, "cpu_s"), _cpu(t, "postgres", "cpu_s"),
        ])
    return ["## Storm: every charger connects and boots at once", "",
            *_table(["server", "accepted", "s until all Accepted", "s until last Accepted",
                     "attempts", "errors", "errors by kind", "server CPU s",
                     "PostgreSQL CPU s"], rows)]


def _fanout_lines(doc: Mapping[str, Any]) -> list[str]:
    t = doc["targets"].get("pgcsms", {})
    if "error" in t:
        return ["## Fanout", "", f"Not measured: {t['error']}", ""]
    rows = [[t["commands"], t["send_statement_s"], t["seconds_to_last_delivered"],
             t["seconds_to_all_answered"],
             ", ".join(f"{k} {v}" for k, v in sorted(t["statuses"].items()))]]
    return ["## Fanout: commands queued by one SQL statement", "",
            *_table(["commands", "s for ocpp.send statement", "s until last delivered",
                     "s until all answered", "statuses"], rows)]


def write_markdown(path: Path, doc: Mapping[str, Any], plot: Path | None = None) -> None:
    """A human-readable table of one run."""
    s = doc["settings"]
    lines = [
        f"# pgcsms benchmark: {doc['scenario']}",
        "",
        f"Run {doc['started_at']} to {doc['finished_at']}; {s['chargers']:,} chargers,"
        f" duration {s['duration']} s, targets {', '.join(s['targets'])}.",
        "",
        "Command: `" + s.get("command", "") + "`",
        "",
    ]
    lines += _machine_lines(doc)
    section = {"steady": _steady_lines, "idle": _idle_lines, "storm": _storm_lines,
               "fanout": _fanout_lines}[doc["scenario"]]
    lines += section(doc)
    if plot is not None:
        lines += [f"![latency against offered load]({plot.name})", ""]
    errors = doc.get("target_errors") or {}
    if errors or doc.get("notes"):
        lines += ["## Notes", ""]
        lines += [f"- {name} not measured: {err.splitlines()[0]}" for name, err in errors.items()]
        lines += [f"- {note}" for note in doc.get("notes", [])]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


# -- plot ------------------------------------------------------------------
def plot_latency(path: Path, doc: Mapping[str, Any]) -> Path | None:
    """p50 and p99 latency against offered load, one colour per server (steady only).

    Returns the path written, or None when matplotlib is missing or nothing to plot.
    """
    if doc["scenario"] != "steady":
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series = []
    for name in ("pgcsms", "python_peer", "node_peer"):
        t = doc["targets"].get(name)
        if not t or "error" in t or not t.get("open"):
            continue
        pts = [(p["offered_msgs_s"], p["latency"]["p50_ms"], p["latency"]["p99_ms"])
               for p in t["open"] if p["latency"]["p99_ms"] is not None]
        peak = t["closed"]["msgs_s"]
        series.append((name, pts, peak))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    colours = {"pgcsms": "tab:blue", "python_peer": "tab:orange", "node_peer": "tab:green"}
    for name, pts, peak in series:
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[2] for p in pts], "o-", color=colours[name], label=f"{_LABELS[name]} p99")
        ax.plot(xs, [p[1] for p in pts], "s--", color=colours[name], alpha=0.6,
                label=f"{_LABELS[name]} p50")
        if peak:
            ax.axvline(peak, color=colours[name], linestyle=":", alpha=0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load, messages/s (dotted: closed-loop peak)")
    ax.set_ylabel("latency, ms (from scheduled send time)")
    s = doc["settings"]
    what = "OCPP 2.0.1 TransactionEvent" if _is_201(doc) else "MeterValues"
    ax.set_title(f"{what} latency against offered load, {s['chargers']:,} chargers")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
