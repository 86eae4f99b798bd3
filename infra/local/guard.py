"""Who may talk to the local servers: loopback is reachable from every web page a developer visits.

A page on any site can send requests to ``127.0.0.1`` (and read the answers if the server grants
CORS), and DNS rebinding lets it reach loopback under its own name (``Host: evil.example:3000``),
so that the browser treats our answers as same-origin to it. Both local servers refuse that:

- ``HostPolicy``: a ``Host`` must be a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``) or a
  name the person configured, with the server's own port. A rebound name is refused.
- ``browser_refusal`` (the local AWS endpoint): no browser has business there at all. A request
  with ``Origin`` or any ``Sec-Fetch-*`` header (Chromium and Firefox send them on every request to
  loopback) is refused, as is every CORS preflight; no answer carries ``Access-Control-*``.
- ``webhook_refusal`` (``POST /webhook``): Stripe, the Stripe CLI and the tools send no browser
  headers, so a request with ``Origin`` or ``Sec-Fetch-*`` (a web page posting to loopback) is
  refused, and so is a foreign ``Host`` while the front listens on loopback only. Listening on
  another address (``--host 0.0.0.0``, for a tunnel or another machine) accepts any ``Host``:
  requests are signature-checked either way.
- ``page_refusal`` (the console's page and JSON, served by ``make run`` and ``make console``
  alike, ``page_http``): reads and changes come from the console's own page only. A change needs
  the custom header ``X-Inbox-Request`` (a cross-site page cannot send one without a preflight,
  which is refused) and, from a browser, the page's own ``Origin``/``Sec-Fetch-Site``. With
  ``--inbox-public`` every API request also needs the random token printed in the banner.
- ``PAGE_HEADERS``: what every answer of a page server carries: no framing, a strict CSP, no CORS.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket
    from io import BufferedIOBase

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
DOCKER_HOST_NAME = "host.docker.internal"
"""How ``sam local`` containers name the machine they run on (``--add-host …:host-gateway``)."""
REQUEST_HEADER = "X-Inbox-Request"
TOKEN_HEADER = "X-Inbox-Token"  # noqa: S105 (a header name, not a secret)
BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user")
SAME_ORIGIN_FETCH = ("same-origin", "none")
"""``Sec-Fetch-Site`` of a request the page itself made, or one the person typed or bookmarked."""


def split_host(host: str) -> tuple[str, int | None]:
    """``"localhost:3000"`` → (``"localhost"``, 3000); ``"[::1]"`` → (``"[::1]"``, None)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if not port:
        return name, None
    return (name, int(port)) if port.isdigit() and len(port) <= 5 else (name, -1)


@dataclass(frozen=True)
class HostPolicy:
    """The ``Host`` values a server on ``port`` answers: loopback names plus ``names``."""

    port: int
    names: frozenset[str] = LOOPBACK_NAMES

    @classmethod
    def of(cls, port: int, extra: Iterable[str] = ()) -> HostPolicy:
        return cls(port, LOOPBACK_NAMES | {name.strip().lower() for name in extra if name.strip()})

    def allows(self, host: str | None) -> bool:
        if not host:
            return False
        name, port = split_host(host)
        return name in self.names and (port or 80) == self.port


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def browser_refusal(method: str, headers: Mapping[str, str], policy: HostPolicy) -> str | None:
    """Why the local AWS endpoint refuses this request, or None (an SDK's request)."""
    if not policy.allows(_header(headers, "host")):
        return "Host is not this machine's loopback name (or one given with --allow-host)"
    if method == "OPTIONS":
        return "CORS preflight: the local AWS endpoint grants no cross-origin access"
    if any(_header(headers, name) is not None for name in BROWSER_HEADERS):
        return (
            "a browser's request (Origin / Sec-Fetch-*): only SDKs and tools may call the local AWS endpoint"
        )
    return None


def webhook_refusal(headers: Mapping[str, str], policy: HostPolicy, *, any_host: bool) -> str | None:
    """Why ``POST /webhook`` refuses this request, or None (Stripe's, the CLI's, a tool's)."""
    if not any_host and not policy.allows(_header(headers, "host")):
        return "Host is not a loopback name with this port (DNS rebinding?); see --allow-host"
    if any(_header(headers, name) is not None for name in BROWSER_HEADERS):
        return "a browser's request (Origin / Sec-Fetch-*): web pages may not post events to the local stack"
    return None


def page_refusal(
    method: str, path: str, headers: Mapping[str, str], policy: HostPolicy, token: str | None
) -> str | None:
    """Why the console's page server refuses this request, or None. ``token``: required on the JSON
    when the local stack's console is public (``--inbox-public``)."""
    host = _header(headers, "host")
    if token is None and not policy.allows(host):
        return "Host is not a loopback name with this port (DNS rebinding?); see --allow-host"
    is_api = path.startswith("/api/")
    if token is not None and is_api:
        given = _header(headers, TOKEN_HEADER.lower()) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return "the console is public: open it with the token link the banner printed"
    fetch_site = _header(headers, "sec-fetch-site")
    origin = _header(headers, "origin")
    if method == "OPTIONS":
        return "CORS preflight: the console grants no cross-origin access"
    if is_api and fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH:
        return f"a {fetch_site} request: the console's JSON is for its own page"
    if method == "POST":
        if _header(headers, REQUEST_HEADER.lower()) is None:
            return f"a change needs the {REQUEST_HEADER} header (the console's page sends it)"
        if origin is not None and origin.lower() != f"http://{(host or '').lower()}":
            return "a change from another origin"
    return None


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""No inline script or style, nothing from elsewhere: a body can never run code in the page; and
no other page may frame it."""
PAGE_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
)
"""Every page server answer's headers; none grants CORS."""

BAD_LENGTH = "Content-Length must be one whole number of bytes (not chunked, not negative)"


def declared_length(headers: Message, command: str) -> int | None:
    """A request body's length as ``Content-Length`` declares it: 0 without one (no header, and
    not a method that sends a body); None when no single whole number is declared (several, a
    sign, text) or the body comes in chunks. None is answered 400 before anything is read."""
    values = headers.get_all("Content-Length") or []
    if not values:
        chunked = "Transfer-Encoding" in headers
        return None if chunked or command in ("POST", "PUT", "PATCH") else 0
    declared = values[0].strip()
    if len(set(values)) != 1 or not declared.isdigit() or len(declared) > 12:
        return None
    return int(declared)


LINGER_SECONDS = 2.0


def linger(connection: socket.socket, rfile: BufferedIOBase, length: int) -> None:
    """After answering a request refused unread: drop what its client still sends, for at most
    ``LINGER_SECONDS`` and ``length`` bytes, keeping nothing, so that it reads the answer instead
    of a connection reset (what a lingering close does); then the connection is closed."""
    deadline = time.monotonic() + LINGER_SECONDS
    with contextlib.suppress(OSError):
        connection.settimeout(LINGER_SECONDS)
        while length > 0 and time.monotonic() < deadline:
            chunk = rfile.read1(min(length, 1 << 20))
            if not chunk:
                return
            length -= len(chunk)
