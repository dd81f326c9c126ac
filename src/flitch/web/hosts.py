"""Which names the web app answers to: the ``Host`` header is checked before anything else.

A page on another site can make a browser talk to Flitch on this machine by DNS rebinding: its
own name (``rebind.evil.example``) first resolves to the attacker's server, then to 127.0.0.1.
The browser then treats Flitch as part of that site and reads its answers, and the anti-forgery
checks pass because the ``Origin`` and the ``Host`` are the same foreign name. What gives it away
is that name: Flitch answers only to the names it was asked to serve.

Allowed by default: the address the server binds to, ``localhost``, ``127.0.0.1`` and ``::1``.
Bound to every interface (``0.0.0.0`` or ``::``), also any IP address and this machine's host
name, since an address typed as digits cannot be rebound. ``FLITCH_ALLOWED_HOSTS`` adds names,
comma-separated: ``flitch.example.com``, ``.example.com`` (that domain and every name under it),
or ``*`` (any name: only behind a proxy that checks the name itself). The port is not compared.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from flitch.config import Settings
from flitch.errors import InputError

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})


class HostNotAllowed(InputError):
    """The request names this server by a name it was not asked to serve."""

    def __init__(self, host: str) -> None:
        shown = host[:100] or "(none)"
        super().__init__(
            f"This Flitch does not answer to the name {shown!r}.",
            "Open it at the address it serves (e.g. http://127.0.0.1:8765). If you reach it by "
            "this name on purpose (another machine, a reverse proxy), add the name to the "
            "setting FLITCH_ALLOWED_HOSTS (comma-separated) and restart. Other names are refused "
            "so that no other website can reach Flitch through a DNS name of its own.",
        )


def host_name(header: str) -> str:
    """The name in a ``Host`` header: lowercased, without port, brackets or a final dot."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowedHosts:
    names: frozenset[str]
    #: ``.example.com`` entries: that domain and every name under it
    domains: tuple[str, ...] = ()
    #: any IP address (bound to every interface)
    any_ip: bool = False
    #: ``*``: no check at all
    anything: bool = False

    @classmethod
    def of(cls, settings: Settings) -> AllowedHosts:
        bind = host_name(settings.host) if settings.host else ""
        names = set(LOCAL_NAMES)
        any_ip = bind in EVERY_INTERFACE
        if any_ip:
            names.add(socket.gethostname().lower())
        else:
            names.add(bind)
        domains: list[str] = []
        anything = False
        for entry in settings.allowed_hosts.split(","):
            entry = entry.strip().lower()
            if entry == "*":
                anything = True
            elif entry.startswith("."):
                domains.append(entry.rstrip("."))
            elif entry:
                names.add(host_name(entry))
        return cls(frozenset(names), tuple(domains), any_ip, anything)

    def allows(self, header: str | None) -> bool:
        """Whether a request's ``Host`` header names this server (no header: HTTP/1.0, which
        no browser sends, so no page can be behind it)."""
        if self.anything or header is None:
            return True
        name = host_name(header)
        if name in self.names or (self.any_ip and _is_ip(name)):
            return True
        return any(name == d[1:] or name.endswith(d) for d in self.domains)
