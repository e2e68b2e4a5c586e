"""Where a webhook may be sent: HTTPS to public addresses only (server-side request forgery).

A URL is refused when its scheme is not ``https`` or when any address its host resolves to is
not globally routable (private, loopback, link-local, shared, reserved, multicast, unspecified;
IPv4-mapped IPv6 included). The check runs when an endpoint is saved and again before every
send; the send then connects to the very address that was checked (the URL's host is kept for
the ``Host`` header and TLS name check), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect it. ``WEBHOOK_ALLOW_PRIVATE_URLS=1`` (tests, local
development) turns the checks off and allows plain HTTP.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from billingsite.errors import AppError


class WebhookUrlError(AppError):
    """The URL may not receive webhooks; retrying cannot fix it."""

    retryable = False

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__("webhook_url_not_allowed", message, details={"url": url[:200]})


def private_urls_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False))


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlError(f"The host {host!r} does not resolve.", url=host) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """Where to connect: ``url`` (host replaced by the checked address unless private URLs are
    allowed), the ``host`` header and the TLS server name to check the certificate against."""

    url: str
    host_header: str
    server_name: str


def check_url(url: str) -> Target:
    """The target to connect to for ``url``, or ``WebhookUrlError``."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if private_urls_allowed() else ("https",)
    if parts.scheme not in allowed_schemes:
        raise WebhookUrlError("Webhook URLs must use https.", url=url)
    if not parts.hostname or parts.username or parts.password:
        raise WebhookUrlError("A webhook URL needs a host and no user or password.", url=url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = parts.netloc
    if private_urls_allowed():
        return Target(url=url, host_header=host_header, server_name=host)
    addresses = _resolve(host, port)
    refused = [str(a) for a in addresses if not _public(a)]
    if not addresses or refused:
        raise WebhookUrlError(
            f"The host {host!r} resolves to an address that may not receive webhooks"
            f" ({', '.join(refused) or 'none'}).",
            url=url,
        )
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=host,
    )
