"""Counters the proxy keeps about itself, read by the health endpoint."""

from __future__ import annotations

from collections import Counter

__all__ = ["Stats"]


class Stats:
    """Monotonic counters and a running sum of database time for ``ocpp.parse``."""

    __slots__ = ("callerrors_sent", "commands", "counters", "parse_calls", "parse_seconds")

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.callerrors_sent: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        self.parse_calls = 0
        self.parse_seconds = 0.0

    def prometheus(self, gauges: dict[str, float]) -> str:
        """The Prometheus text exposition of everything, with the given gauges."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

        for name, value in sorted(gauges.items()):
            metric(f"pgcsms_{name}", "gauge", name.replace("_", " "), [("", value)])
        metric("pgcsms_frames_total", "counter", "OCPP-J frames by direction and message type",
               [(f'{{kind="{kind}"}}', count) for kind, count in sorted(self.counters.items())])
        metric("pgcsms_callerrors_sent_total", "counter", "CALLERRORs sent to chargers, by code",
               [(f'{{code="{code}"}}', count) for code, count in sorted(self.callerrors_sent.items())])
        metric("pgcsms_commands_total", "counter", "commands delivered and how they ended on this node",
               [(f'{{outcome="{outcome}"}}', count) for outcome, count in sorted(self.commands.items())])
        metric("pgcsms_parse_seconds", "summary", "database time of ocpp.parse calls",
               [])
        lines.append(f"pgcsms_parse_seconds_sum {self.parse_seconds:g}")
        lines.append(f"pgcsms_parse_seconds_count {self.parse_calls}")
        return "\n".join(lines) + "\n"
