"""Turn samples into one markdown table of figures and ratios against the baseline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._load import Sample

S = TypeVar("S")

#: which server each one is compared with
REFERENCE = {
    "workerman-uvloop": "baseline-uvloop",
    "workerman-asyncio": "baseline-asyncio",
    "workerman-trio": "baseline-asyncio",
    "baseline-uvloop-perline": "baseline-uvloop",
    "baseline-uvloop-callback": "baseline-uvloop",
}
UNITS = {"echo": "msg/s", "echo-rr": "msg/s", "accept": "conn/s", "memory": "KiB/conn"}
GOAL_RATIO = 0.9
GOAL_KIB = 8.0


@dataclass
class Rounds(ABC, Generic[S]):
    """One row of a table: a case against a server, with a sample for each round."""

    case: str
    server: str
    samples: list[S] = field(default_factory=list)

    @abstractmethod
    def value_of(self, sample: S) -> float:
        """The figure of one round's sample that rows are ranked by."""

    @property
    def smaller_is_better(self) -> bool:
        return False

    @property
    def best(self) -> S:
        """The round least disturbed by other processes: the fastest, or the smallest."""
        pick = min if self.smaller_is_better else max
        return pick(self.samples, key=self.value_of)

    @property
    def value(self) -> float:
        return self.value_of(self.best)

    @property
    def spread(self) -> float:
        """Half the range of the rounds, relative to the reported value."""
        values = [self.value_of(s) for s in self.samples]
        return (max(values) - min(values)) / 2 / self.value if len(values) > 1 else 0.0

    def details(self) -> dict[str, Any]:
        """What the row's entry in the results file tells beside its value."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "server": self.server,
            "value": self.value,
            **self.details(),
            "samples": [vars(s) for s in self.samples],
        }


@dataclass
class Result(Rounds[Sample]):
    # case: "echo", "echo-rr", "accept" or "memory"

    def value_of(self, sample: Sample) -> float:
        """Throughput for echo and accept; KiB per idle connection for memory."""
        if self.case == "memory":
            return sample.rss_delta / sample.ops / 1024
        return sample.rate

    @property
    def smaller_is_better(self) -> bool:
        return self.case == "memory"

    def details(self) -> dict[str, Any]:
        return {"unit": UNITS[self.case]}


def _ratio(result: Result, by_key: dict[tuple[str, str], Result], name: str) -> str:
    ref = by_key.get((result.case, REFERENCE.get(result.server, "")))
    if ref is None:
        return "—"
    if name == "value":
        mine, theirs = result.value, ref.value
    else:
        mine, theirs = getattr(result.best, name), getattr(ref.best, name)
    return f"{mine / theirs:.2f}x" if theirs else "—"


def _row(result: Result, by_key: dict[tuple[str, str], Result]) -> list[str]:
    best = result.best
    if result.case == "memory":
        count = best.ops
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
        f"{best.server_us_per_op:.2f}",
        f"{best.server_cpu / best.seconds:.0%}",
        f"{best.client_cpu / best.seconds:.0%}",
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


def markdown_table(header: Sequence[str], rows: Iterable[list[str]]) -> str:
    """A markdown table with its columns padded to one width each."""
    body = [list(header), ["---"] * len(header), *rows]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = []
    for row in body:
        cells = [c.ljust(w, "-" if c == "---" else " ") for c, w in zip(row, widths, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def starved_echo(results: Iterable[Rounds[Any]]) -> list[str]:
    """The echo rows whose server did not use 80% of its core: "case server (share)"."""
    return [
        f"{r.case} {r.server} ({r.best.server_cpu / r.best.seconds:.0%})"
        for r in results
        if r.case.startswith("echo") and r.best.server_cpu < 0.8 * r.best.seconds
    ]


def table(results: list[Result]) -> str:
    by_key = {(r.case, r.server): r for r in results}
    return markdown_table(HEADER, [_row(r, by_key) for r in results])


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
            # What one core could do at each server's CPU cost: steadier than throughput
            # when other processes compete or the load generator is the limit.
            capacity = ref.best.server_us_per_op / mine.best.server_us_per_op
            verdict = "met" if ratio >= GOAL_RATIO else "MISSED"
            lines.append(
                f"- {case}: {server} at {ratio:.2f}x of {ref.server}"
                f" ({capacity:.2f}x by CPU per op; goal >= {GOAL_RATIO}x): {verdict}"
            )
    mine = by_key.get(("echo", "workerman-uvloop"))
    ref = by_key.get(("echo", "baseline-uvloop-callback"))
    if mine is not None and ref is not None and ref.value:
        capacity = ref.best.server_us_per_op / mine.best.server_us_per_op
        lines.append(
            f"- echo, beside a hand-written Protocol that also calls a handler per message"
            f" (baseline-uvloop-callback): workerman-uvloop at {mine.value / ref.value:.2f}x"
            f" ({capacity:.2f}x by CPU per op)"
        )
    for r in results:
        if r.case == "memory" and r.server.startswith("workerman"):
            verdict = "met" if r.value < GOAL_KIB else "MISSED"
            lines.append(
                f"- memory: {r.server} {r.value:.2f} KiB per idle connection"
                f" (goal < {GOAL_KIB:g} KiB): {verdict}"
            )
    return lines


def warnings(results: list[Result]) -> list[str]:
    """Rows where the server could not have had its core to itself."""
    starved = starved_echo(results)
    if not starved:
        return []
    return [
        "- WARNING: other processes took CPU from the server (an echo server should use all of"
        f" its core): {', '.join(starved)}. Throughput there is low; CPU us/op is less affected."
    ]
