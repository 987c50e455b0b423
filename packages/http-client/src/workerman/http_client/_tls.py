"""TLS contexts: verified against the system's store by default, unverified only when asked."""

from __future__ import annotations

import logging
import ssl

__all__ = ["Verify", "make_context"]

logger = logging.getLogger("workerman.http_client")

Verify = bool | str | ssl.SSLContext
_warned = False


def make_context(verify: Verify, cert: str | tuple[str, str] | None = None) -> ssl.SSLContext:
    """The client context for ``verify``: True (the system's CA store, host names checked),
    a CA bundle path, a context of your own, or False (no verification: logged once)."""
    global _warned
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        if not _warned:
            _warned = True
            logger.warning(
                "TLS certificate verification is off (verify=False): connections can be intercepted"
            )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(cert[0], cert[1])
    return context


class TlsLayer:
    """TLS over a connection that is already open (a proxy's tunnel), through memory
    buffers: bytes from the socket in, plaintext out, and the reverse."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self.done = False

    def handshake(self, data: bytes = b"") -> bytes:
        """Go on with the handshake; the bytes to send. ``done`` tells when it is over."""
        if data:
            self._incoming.write(data)
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        else:
            self.done = True
        return self._outgoing.read()

    def decrypt(self, data: bytes) -> tuple[bytes, bytes]:
        """(plaintext, bytes to send) from bytes received; b"" plaintext at close_notify."""
        self._incoming.write(data)
        pieces = []
        while True:
            try:
                piece = self._tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                break
            if not piece:
                break
            pieces.append(piece)
        return b"".join(pieces), self._outgoing.read()

    def encrypt(self, data: bytes) -> bytes:
        """The bytes to send for ``data``."""
        self._tls.write(data)
        return self._outgoing.read()
