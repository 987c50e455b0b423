"""TLS contexts: verified against the system's store by default, unverified only when asked."""

from __future__ import annotations

import logging
import ssl
from typing import Union

__all__ = ["Verify", "make_context"]

logger = logging.getLogger("workerman.http_client")

Verify = Union[bool, str, ssl.SSLContext]
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
