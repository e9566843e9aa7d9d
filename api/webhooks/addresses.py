"""Where a webhook may go: an http or https URL whose host is a public address.

A webhook is a request that the API's worker sends to a URL a user chose. A
URL that names a private, loopback or link-local address would let that user
reach, through the worker, what only the worker's network can reach: a
database's admin page, a cloud's metadata service (169.254.169.254). Such a
host is refused, when the workflow starts and again when the webhook is sent
(a name may resolve elsewhere by then), unless ``WEBHOOK_ALLOWED_HOSTS``
names it. The request then goes to the very address that was checked
(``resolve``), and a redirect is never followed.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

#: The schemes a webhook may use.
SCHEMES = ("http", "https")


class Refused(Exception):
    """A URL that no webhook may be sent to; the message says why."""


def parts(url):
    """``(scheme, host, port)`` of an http or https ``url``; ``Refused`` if it is not one."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise Refused(f"is not a valid URL: {exc}") from None
    if split.scheme.lower() not in SCHEMES:
        raise Refused(f"must be an http or https URL, not {split.scheme or 'one without a scheme'}")
    if not split.hostname:
        raise Refused("must name a host")
    if split.username or split.password:
        raise Refused("must not hold a user name or a password")
    scheme = split.scheme.lower()
    return scheme, split.hostname, port or (443 if scheme == "https" else 80)


def kind_of(address):
    """Why ``address`` is not one to send a webhook to (``"a loopback address"``); None if it is."""
    address = ipaddress.ip_address(address)
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    kinds = (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attribute, kind in kinds:
        if getattr(address, attribute):
            return kind
    if not address.is_global:
        return "an address that is not public"
    return None


def allowed(host):
    """Whether ``host`` is in WEBHOOK_ALLOWED_HOSTS, where any address goes."""
    return host.lower() in {name.lower() for name in settings.WEBHOOK_ALLOWED_HOSTS}


def resolve(url):
    """``(scheme, host, port, address)``: the address to send a webhook for ``url`` to.

    ``Refused`` if the URL is not an http or https one, or if its host is or
    resolves to an address that is not public and the host is not allowed;
    ``OSError`` (``socket.gaierror``) if the name does not resolve, which may
    pass; ``UnicodeError`` if it cannot be a name at all.
    """
    scheme, host, port = parts(url)
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in found]
    if not allowed(host):
        for address in addresses:
            if kind := kind_of(address):
                raise Refused(
                    f"its host {host} is {kind} ({address}): a webhook goes to public "
                    "addresses only, unless WEBHOOK_ALLOWED_HOSTS names the host"
                )
    return scheme, host, port, addresses[0]


def check(url):
    """Why no webhook may be sent to ``url`` now, in words; None if one may."""
    if not settings.WEBHOOK_SECRET:
        return "webhooks are not configured: the server has no WEBHOOK_SECRET"
    try:
        resolve(url)
    except Refused as exc:
        return str(exc)
    except (OSError, UnicodeError) as exc:
        return f"its host cannot be found: {exc}"
    return None
