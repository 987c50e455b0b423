"""The WebSocket benchmark's markdown table, its notes and the goals of the issue."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ._report import Rounds, markdown_table, starved_echo
from ._ws_load import Sample

CEILING = "baseline-uvloop"
GOAL_ECHO = 3.0  # ours against the websockets library, messages per second
GOAL_KIB = 10.0  # per idle connection


def peer(case: str, server: str) -> str | None:
    """The websockets library server a row of ours is compared with."""
    if not server.startswith("workerman-"):
        return None
    if case == "echo-deflate":
        return "websockets-deflate"
    return server.replace("workerman-", "websockets-")


@dataclass
class Row(Rounds[Sample]):
    # case: echo, echo-rr, echo-deflate, memory, broadcast

    def value_of(self, sample: Sample) -> float:
        """msg/s (echo), KiB per connection (memory), seconds (broadcast)."""
        if self.case == "memory":
            return sample.rss_delta / sample.ops / 1024
        if self.case == "broadcast":
            return sample.seconds
        return sample.rate

    @property
    def smaller_is_better(self) -> bool:
        return not self.case.startswith("echo")

    @property
    def cost(self) -> float:
        """Server CPU: per message, per handshake, or per client reached (us). A
        broadcast takes the server's own CPU clock over its send loop: psutil counts in
        10 ms ticks, too coarse for one broadcast."""
        best = self.best
        if self.case == "broadcast":
            return best.loop_cpu / best.ops * 1e6 if best.ops else float("nan")
        return best.server_us_per_op

    def details(self) -> dict[str, Any]:
        return {"server_us_per_op": self.cost}


def _vs(row: Row, other: Row | None) -> str:
    if other is None or not other.value or not other.cost:
        return "—"
    ratio = row.value / other.value
    cost = row.cost / other.cost
    if row.case == "memory":
        return f"{ratio:.2f}x"
    if row.case == "broadcast":
        return f"{ratio:.2f}x time, {cost:.2f}x CPU"
    return f"{ratio:.2f}x msg/s, {cost:.2f}x CPU/msg"


def _cells(row: Row, rows: dict[tuple[str, str], Row]) -> list[str]:
    best = row.best
    spread = f" ±{row.spread:.0%}" if row.spread else ""
    mine = peer(row.case, row.server)
    theirs = rows.get((row.case, mine)) if mine else None
    ceiling = rows.get((row.case, CEILING)) if row.server != CEILING else None
    if row.case == "memory":
        result = f"{row.value:.2f} KiB/conn ({best.ops:,} conns)"
        cpu = f"{row.cost:.0f} us/handshake"
        return [row.case, row.server, result, cpu, "—", "—", _vs(row, theirs), "—"]
    if row.case == "broadcast":
        result = f"{row.value * 1e3:.1f} ms to {best.ops:,} clients{spread}"
        cpu = f"{row.cost:.2f} us/client (loop {best.loop_seconds * 1e3:.1f} ms)"
        return [row.case, row.server, result, cpu, "—", "—", _vs(row, theirs), "—"]
    return [
        row.case,
        row.server,
        f"{row.value:,.0f} msg/s{spread}",
        f"{row.cost:.2f} us/msg",
        f"{best.server_cpu / best.seconds:.0%}",
        f"{best.client_cpu / best.seconds:.0%}",
        _vs(row, theirs),
        _vs(row, ceiling),
    ]


HEADER = [
    "case",
    "server",
    "result",
    "server CPU",
    "server core",
    "loadgen core",
    "ours vs websockets",
    "vs line-echo ceiling",
]


def table(results: list[Row]) -> str:
    by_key = {(r.case, r.server): r for r in results}
    return markdown_table(HEADER, [_cells(r, by_key) for r in results])


def notes(cfg: Any, cases: list[str], elapsed: float, cores: tuple[Any, Any], load: float) -> str:
    text = {
        "": f"- {'quick' if cfg.quick else 'full'} run, {elapsed:.0f} s, Python"
        f" {sys.version.split()[0]}, load average {load:.2f} at the start; every server one"
        f" process pinned to core {cores[0]}, the load generator (raw-socket uvloop client,"
        f" frames pre-built) on core {cores[1]}. Echo rows: best of {cfg.rounds} round(s),"
        " ± half the range of the rounds.",
        "echo": f"- echo: {cfg.connections} connections, each writing {cfg.window} masked"
        f" {32}-byte text frames at once and waiting for their {cfg.window} echoes before the"
        " next batch (busy connections, many messages per read: the server may coalesce"
        f" its replies). {cfg.duration:g} s measured after {cfg.warmup:g} s of warm-up.",
        "echo-rr": f"- echo-rr: {cfg.connections} connections, one 32-byte message in flight"
        " on each (strict request/response: one read and one write per message for every"
        " server).",
        "echo-deflate": "- echo-deflate: as echo, the client offering permessage-deflate"
        " (client_max_window_bits) and sending compressed frames with context takeover;"
        " workerman-uvloop (compression on by default) against websockets-deflate (its default"
        " compression). Replies are counted by walking frame headers.",
        "ceiling": "- baseline-uvloop: a hand-written asyncio.Protocol line echo on uvloop"
        " (32-byte newline-delimited lines, the same connections and batches), not"
        " WebSocket: the pure-Python floor of per-message cost.",
        "memory": f"- memory: growth of the server's RSS (psutil) over {cfg.idle:,} handshaken"
        " idle WebSocket connections (no compression offered), divided by their number;"
        " a fresh server per row. Server CPU there: per handshake.",
        "broadcast": f"- broadcast: over the same {cfg.idle:,} connections, one client sends a"
        " trigger; the server sends one 32-byte text message to every connection (ours: a"
        " loop of connection.send, websockets: websockets.broadcast(server.connections))."
        " Time from the trigger's write to the last client's receipt, best of"
        f" {cfg.broadcasts}; server CPU: the server's own CPU time (process_time) of its"
        " send loop per client reached; loop: the wall time of that loop.",
        "ratios": "- ratios: ours / theirs, against the websockets server on the same loop"
        " (workerman-uvloop vs websockets-uvloop, -asyncio vs -asyncio, -trio vs -trio)."
        " msg/s: higher is better; CPU, memory and time: lower is better.",
        "websockets": "- websockets library servers: compression=None (except"
        " websockets-deflate), ping_interval=None (ours sends no heartbeat by default"
        " either), handler `async for message in ws: await ws.send(message)`. picows (Cython,"
        " uvloop): a WSListener answering each text frame with its text (decoded and encoded"
        " again, as a handler given a str would), no auto-ping. workerman-uvloop-pure: ours"
        " with WORKERMAN_NO_EXTENSIONS=1 (the core's pure-Python build).",
    }
    shown = {"", "ratios", "websockets", *cases}
    if set(cases) & {"echo", "echo-rr"}:
        shown.add("ceiling")
    return "\n".join(line for key, line in text.items() if key in shown)


def goals(results: list[Row]) -> list[str]:
    by_key = {(r.case, r.server): r for r in results}
    lines = []
    for case in ("echo", "echo-rr", "echo-deflate"):
        for server in ("workerman-uvloop", "workerman-asyncio", "workerman-trio"):
            mine = by_key.get((case, server))
            other = peer(case, server)
            theirs = by_key.get((case, other)) if other else None
            if mine is None or theirs is None or not theirs.value:
                continue
            ratio = mine.value / theirs.value
            by_cpu = theirs.cost / mine.cost
            verdict = "met" if ratio >= GOAL_ECHO else "MISSED"
            floor = by_key.get((case, CEILING))
            context = ""
            if floor is not None and server == "workerman-uvloop":
                context = (
                    f"; for scale, the line-echo floor is {floor.value / theirs.value:.2f}x"
                    f" ({theirs.cost / floor.cost:.2f}x by CPU)"
                )
            lines.append(
                f"- {case}: {server} {ratio:.2f}x the msg/s of {other} ({by_cpu:.2f}x by"
                f" server CPU per message; goal >= {GOAL_ECHO:g}x): {verdict}{context}"
            )
    for case in ("echo", "echo-rr"):
        mine, picows = by_key.get((case, "workerman-uvloop")), by_key.get((case, "picows"))
        if mine is not None and picows is not None and picows.cost:
            ratio = mine.cost / picows.cost
            verdict = "met" if ratio <= 1.0 else "MISSED"
            lines.append(
                f"- {case}: workerman-uvloop {ratio:.2f}x the server CPU per message of picows"
                f" (goal <= 1x): {verdict}"
            )
    for row in results:
        if row.case == "memory" and row.server.startswith("workerman"):
            verdict = "met" if row.value < GOAL_KIB else "MISSED"
            lines.append(
                f"- memory: {row.server} {row.value:.2f} KiB per idle WebSocket connection"
                f" (goal < {GOAL_KIB:g} KiB): {verdict}"
            )
    return lines


def warnings(results: list[Row]) -> list[str]:
    starved = starved_echo(results)
    if not starved:
        return []
    return [
        "- note: the server did not use all of its core in "
        + ", ".join(starved)
        + ": there the load generator (or another process) was the limit; server CPU per"
        " message still compares the servers."
    ]
