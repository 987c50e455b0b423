"""Turn samples into one markdown table of figures and ratios against the baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ._load import Sample

#: which server each one is compared with
REFERENCE = {
    "workerman-uvloop": "baseline-uvloop",
    "workerman-asyncio": "baseline-asyncio",
    "workerman-trio": "baseline-asyncio",
    "baseline-uvloop-perline": "baseline-uvloop",
}
UNITS = {"echo": "msg/s", "echo-rr": "msg/s", "accept": "conn/s", "memory": "KiB/conn"}
GOAL_RATIO = 0.9
GOAL_KIB = 8.0


@dataclass
class Result:
    case: str  # "echo", "accept" or "memory"
    server: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(s, name) for s in self.samples)

    def _values(self) -> list[float]:
        if self.case == "memory":
            return [s.rss_delta / s.ops / 1024 for s in self.samples]
        return [s.rate for s in self.samples]

    @property
    def value(self) -> float:
        """Throughput for echo and accept; KiB per idle connection for memory."""
        return statistics.median(self._values())

    @property
    def spread(self) -> float:
        """Half the range of the rounds, relative to the median."""
        values = self._values()
        return (max(values) - min(values)) / 2 / self.value if len(values) > 1 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "server": self.server,
            "value": self.value,
            "unit": UNITS[self.case],
            "samples": [vars(s) for s in self.samples],
        }


def _ratio(result: Result, by_key: dict[tuple[str, str], Result], name: str) -> str:
    ref = by_key.get((result.case, REFERENCE.get(result.server, "")))
    if ref is None:
        return "—"
    if name == "value":
        mine, theirs = result.value, ref.value
    else:
        mine, theirs = result.median(name), ref.median(name)
    return f"{mine / theirs:.2f}x" if theirs else "—"


def _row(result: Result, by_key: dict[tuple[str, str], Result]) -> list[str]:
    seconds = result.median("seconds")
    if result.case == "memory":
        count = int(result.median("ops"))
        figure = f"{result.value:.2f} KiB/conn ({count:,} conns)"
        ratio = _ratio(result, by_key, "value")
        return [result.case, result.server, figure, "—", "—", "—", ratio, "—"]
    figure = f"{result.value:,.0f} {UNITS[result.case]}"
    if result.spread:
        figure += f" ±{result.spread:.0%}"
    if errors := sum(s.errors for s in result.samples):
        figure += f" ({errors:,} failed)"
    return [
        result.case,
        result.server,
        figure,
        f"{result.median('server_us_per_op'):.2f}",
        f"{result.median('server_cpu') / seconds:.0%}",
        f"{result.median('client_cpu') / seconds:.0%}",
        _ratio(result, by_key, "value"),
        _ratio(result, by_key, "server_us_per_op"),
    ]


HEADER = [
    "case",
    "server",
    "result",
    "server CPU us/op",
    "server CPU",
    "loadgen CPU",
    "ratio vs baseline",
    "CPU/op vs baseline",
]


def table(results: list[Result]) -> str:
    by_key = {(r.case, r.server): r for r in results}
    rows = [HEADER, ["---"] * len(HEADER)] + [_row(r, by_key) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for row in rows:
        cells = [c.ljust(w, "-" if c == "---" else " ") for c, w in zip(row, widths, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(results: list[Result]) -> list[str]:
    """One line per goal of the issue: met or missed, with the figure."""
    by_key = {(r.case, r.server): r for r in results}
    lines = []
    for case in ("echo", "echo-rr", "accept"):
        for server in ("workerman-asyncio", "workerman-uvloop"):
            mine, ref = by_key.get((case, server)), by_key.get((case, REFERENCE[server]))
            if mine is None or ref is None or not ref.value:
                continue
            ratio = mine.value / ref.value
            verdict = "met" if ratio >= GOAL_RATIO else "MISSED"
            lines.append(
                f"- {case}: {server} at {ratio:.2f}x of {ref.server}"
                f" (goal >= {GOAL_RATIO}x): {verdict}"
            )
    for r in results:
        if r.case == "memory" and r.server.startswith("workerman"):
            verdict = "met" if r.value < GOAL_KIB else "MISSED"
            lines.append(
                f"- memory: {r.server} {r.value:.2f} KiB per idle connection"
                f" (goal < {GOAL_KIB:g} KiB): {verdict}"
            )
    return lines
