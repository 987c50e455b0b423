"""Binding listening sockets ourselves, so the master can bind once before forking."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

from ._address import Address
from ._exceptions import AddressInUseError, ServerError

__all__ = ["bind_socket"]


def _remove_stale_unix_socket(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServerError(f"cannot listen on unix://{path}: a file that is not a socket is there")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: a leftover from a dead process
    else:
        raise AddressInUseError(f"cannot listen on unix://{path}: another process listens there")
    finally:
        probe.close()


def bind_socket(address: Address, reuse_port: bool = False, backlog: int = 128) -> socket.socket:
    """A bound, non-blocking socket for ``address``; a stream socket is listening too
    (on Linux, two SO_REUSEADDR sockets may bind one port until one of them listens).

    Raises:
        AddressInUseError: the address is taken.
        ServerError: any other reason the address cannot be bound.
    """
    kind = socket.SOCK_DGRAM if address.transport == "udp" else socket.SOCK_STREAM
    if address.transport == "unix":
        assert address.path is not None
        _remove_stale_unix_socket(address.path)
        sock = socket.socket(socket.AF_UNIX, kind)
        target: object = address.path
    else:
        try:
            infos = socket.getaddrinfo(
                address.host, address.port, type=kind, flags=socket.AI_PASSIVE
            )
        except socket.gaierror as exc:
            raise ServerError(f"cannot listen on {address}: {exc}") from None
        family, _, proto, _, target = infos[0]
        sock = socket.socket(family, kind, proto)
    try:
        if address.transport == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(target)  # type: ignore[arg-type]
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(f"cannot listen on {address}: address already in use") from None
        raise ServerError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
