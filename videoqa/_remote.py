"""Telling an unreachable store from a missing object, for every fsspec backend.

fsspec's ``isfile``/``exists`` answer False on any error, and some backends (HTTP) raise
``FileNotFoundError`` for a host that does not answer; each client library wraps the network error
in its own class (botocore, aiohttp, requests, google-auth). The network error is found in the
exception's cause chain, so a dead network reads as unreachable (retried) and never as missing.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

from videoqa.errors import SourceUnreachableError

__all__ = ["path_kind", "reported_unreachable", "unreachable_cause"]

# Client-library errors that mean "no answer" when they carry no standard cause.
_UNREACHABLE_NAMES = frozenset(
    {
        "EndpointConnectionError",  # botocore
        "ConnectTimeoutError",  # botocore, urllib3
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ClientConnectorError",  # aiohttp
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "NewConnectionError",  # urllib3
        "TransportError",  # google-auth
    }
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unreachable_cause(exc: BaseException) -> BaseException | None:
    """The network failure behind ``exc`` (the deepest one), or None when there is none."""
    found = None
    for cause in _causes(exc):
        standard = isinstance(cause, (ConnectionError, socket.gaierror, TimeoutError))
        if standard or (found is None and type(cause).__name__ in _UNREACHABLE_NAMES):
            found = cause
    return found


def path_kind(
    fs: Any, path: str, *, name: str, attempts: int = 3, backoff_seconds: float = 1.0
) -> Literal["file", "directory", "missing"]:
    """What is at ``path`` on ``fs``; an unreachable store is retried, then raises.

    Raises:
        SourceUnreachableError: (transient) the store did not answer in ``attempts`` tries.
    """
    attempt = 1
    while True:
        try:
            kind = fs.info(path).get("type")
        except Exception as exc:
            cause = unreachable_cause(exc)
            if cause is None and isinstance(exc, FileNotFoundError):
                return "missing"
            if cause is None:
                raise
            if attempt >= attempts:
                raise SourceUnreachableError(
                    name,
                    f"cannot reach the store ({cause}) after {attempt} tries; check the URL, the "
                    "endpoint and the network, then retry (nothing is known about the object)",
                ) from exc
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
            attempt += 1
            continue
        return "directory" if kind == "directory" else "file"


@contextlib.contextmanager
def reported_unreachable(name: str) -> Iterator[None]:
    """Raise a network failure of the block (in any client library's wrapping) as
    :class:`SourceUnreachableError` naming ``name``; other errors pass through."""
    try:
        yield
    except SourceUnreachableError:
        raise
    except Exception as exc:
        cause = unreachable_cause(exc)
        if cause is None:
            raise
        raise SourceUnreachableError(
            name, f"cannot reach the store ({cause}); check the URL, the endpoint and the network, then retry"
        ) from exc
