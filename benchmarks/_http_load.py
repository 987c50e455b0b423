"""Server processes for ``benchmarks.http``, the check that each one speaks HTTP right, and
wrk runs measured with the server's CPU time (psutil) over the same window.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httptools

from ._http_servers import run_dir_of
from ._proc import GroupServer, Server, ServerGroup, children_cpu

HOST = "127.0.0.1"
WRK = "/usr/bin/wrk"
FILE_SIZE = 1 << 20

#: the end of every wrk script: the exact counts of the run on one line
DONE_LUA = """\
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n", summary.requests,
    summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

#: wrk script: with depth > 1 every write of a connection is ``depth`` requests at once (as
#: the TechEmpower plaintext test pipelines)
LUA = """\
local depth, path = {depth}, "{path}"
local batch
if depth > 1 then
  function init(args)
    local parts = {{}}
    for i = 1, depth do parts[i] = wrk.format("GET", path) end
    batch = table.concat(parts)
  end
  function request() return batch end
end
""" + DONE_LUA.replace("{", "{{").replace("}", "}}")

#: the request part of the ``unique`` case's script: no two requests alike, as from
#: browsers: the path, the query and the session cookie vary, with a browser's headers
UNIQUE_LUA = """\
local n = 0
local agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
  .. "Chrome/124.0.0.0 Safari/537.36"
function request()
  n = n + 1
  local path = "/items/" .. (n % 9973) .. "?page=" .. (n % 97) .. "&q=w" .. n
  return wrk.format("GET", path, {
    ["User-Agent"] = agent,
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.9,fr;q=0.5",
    ["Accept-Encoding"] = "gzip, deflate, br",
    ["Referer"] = "http://127.0.0.1/items/" .. ((n * 7) % 9973),
    ["Cookie"] = "theme=dark; session=" .. string.format("%08x%08x", n, n * 2654435761 % 4294967296)
      .. "; lang=en",
  })
end
"""


@dataclass
class Sample:
    requests: int
    bytes: int
    seconds: float
    server_cpu: float  # seconds of server CPU over the run (user + system)
    client_cpu: float  # seconds of wrk CPU over the run
    errors: int = 0
    server_sys: float = 0.0  # the kernel's share of server_cpu
    error_kinds: str = ""  # wrk's counts by kind: "timeout 2, read 1"

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.bytes / self.seconds / (1 << 20) if self.seconds else 0.0

    @property
    def server_us_per_request(self) -> float:
        return self.server_cpu / self.requests * 1e6 if self.requests else float("nan")

    @property
    def server_sys_us_per_request(self) -> float:
        """The part of server_us_per_request spent in the kernel (system time)."""
        return self.server_sys / self.requests * 1e6 if self.requests else float("nan")


class HttpServer(GroupServer):
    """One server of ``_http_servers`` in its own process group, pinned to ``cpu``."""

    module = "benchmarks._http_servers"

    def __init__(
        self, kind: str, cpu: int | None, log_dir: Path, file: Path, env: dict[str, str]
    ) -> None:
        super().__init__(kind, cpu, log_dir, [str(file)], env)
        self.run_dir = run_dir_of(self.port)


class HttpServers(ServerGroup[HttpServer]):
    """Start the given servers; stop every one of them on the way out, whatever happens."""

    prefix = "wm-bench-http-"

    def __init__(self, kinds: list[str], cpu: int | None, env: dict[str, str] | None = None):
        super().__init__()
        self.kinds = kinds
        self.cpu = cpu
        self.env = env or {}
        self.file = self.log_dir / "file.bin"

    def start(self) -> None:
        self.file.write_bytes(os.urandom(FILE_SIZE))
        self._body = self.file.read_bytes()
        for kind in self.kinds:
            self.running[kind] = HttpServer(kind, self.cpu, self.log_dir, self.file, self.env)

    def check(self, server: HttpServer) -> None:
        probe(server, self._body)


class _Responses:
    """httptools callbacks collecting complete responses: (status, headers, body)."""

    def __init__(self) -> None:
        self.done: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self.headers, b"".join(self.body)))
        self.headers, self.body = {}, []

    def read(self, sock: socket.socket, count: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        while len(self.done) < count:
            data = sock.recv(1 << 20)
            if not data:
                raise RuntimeError(f"closed after {len(self.done)} of {count} responses")
            self.parser.feed_data(data)


def probe(server: Server, file: bytes, timeout: float = 10.0) -> None:
    """Three pipelined ``GET /``, then ``GET /file``, on one keep-alive connection."""
    hello = f"GET / HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    while True:  # uvicorn reports ready just before it listens
        try:
            sock = socket.create_connection((HOST, server.port), timeout=timeout)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with sock:
        responses = _Responses()
        sock.sendall(hello * 3)
        responses.read(sock, 3)
        sock.sendall(hello.replace(b"/ ", b"/file "))
        responses.read(sock, 4)
    for status, headers, body in responses.done[:3]:
        if (
            status != 200
            or body != b"Hello World"
            or b"text/html" not in headers.get(b"content-type", b"")
        ):
            raise RuntimeError(f"{server.kind}: GET / answered {status} {headers} {body[:80]!r}")
    status, headers, body = responses.done[3]
    if status != 200 or body != file:
        raise RuntimeError(f"{server.kind}: GET /file answered {status}, {len(body)} bytes")


def wrk(
    server: HttpServer,
    path: str,
    connections: int,
    seconds: int,
    cpu: int | None,
    depth: int = 1,
    lua: str = "",
) -> Sample:
    """One wrk run (one thread, pinned to ``cpu``) against ``server``; timeouts fail it.
    ``lua`` replaces the request part of the script (it should not define ``done``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="wm-bench-") as script:
        script.write(lua + DONE_LUA if lua else LUA.format(depth=depth, path=path))
        script.flush()
        args = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
        args.append(f"http://{HOST}:{server.port}{path}")
        if cpu is not None:
            args = ["taskset", "-c", str(cpu), *args]
        client0, (user0, sys0) = children_cpu(), server.cpu_times()
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        (user1, sys1), client1 = server.cpu_times(), children_cpu()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    requests, size, micros, *errors = (int(x) for x in lines[-1].split()[1:])
    kinds = ", ".join(
        f"{kind} {count}"
        for kind, count in zip(
            ("connect", "read", "write", "status", "timeout"), errors, strict=True
        )
        if count
    )
    server_cpu = user1 - user0 + sys1 - sys0
    client_cpu = client1 - client0
    return Sample(
        requests, size, micros / 1e6, server_cpu, client_cpu, sum(errors), sys1 - sys0, kinds
    )
