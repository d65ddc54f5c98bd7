"""Where the webhook sender may connect: the URL's form and every address its host resolves to (SSRF).

A merchant chooses the URL, so without these checks the sender would be a way into our network: the instance
metadata endpoint (169.254.169.254) hands out the function's credentials, and private addresses reach the
database and anything else in the VPC. The rules:

- **Form** (``invalid_url``): ``https`` (also ``http`` where the environment allows it: dev, the local
  target), a host, no credentials (``user:pass@``), no fragment, no whitespace or control characters, an
  ASCII host (IDNs in their ``xn--`` form), at most 2,048 characters.
- **Address** (``refused_address``; ``url_not_allowed`` when the API sees it in a URL): only globally
  routable unicast addresses. Refused: loopback, private (RFC 1918), link-local (169.254.0.0/16, fe80::/10),
  carrier-grade NAT (100.64.0.0/10), multicast, unspecified, reserved and documentation ranges, IPv6 unique
  local (fc00::/7), and every IPv6 form that carries an IPv4 address (mapped ``::ffff:a.b.c.d``, compatible,
  NAT64 ``64:ff9b::/96``, 6to4, Teredo), judged by the IPv4 address inside. Loopback is allowed only where
  the environment says so (dev and the local target, whose receivers listen on 127.0.0.1).
- **Every** address a name resolves to must pass (a name with one public and one private address is refused),
  and the connection is made to an address that was checked, never by resolving again: a DNS answer that
  changes between check and connect (rebinding) changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``socket.getaddrinfo``'s signature, injectable so a test can answer for a name it does not control.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

MAX_URL_LENGTH = 2048
#: IPv6 prefixes whose last 32 bits are an IPv4 address a translator connects to: NAT64's well-known prefix
#: (RFC 6052) and its local-use prefix (RFC 8215), SIIT's IPv4-translated form, and the deprecated compatible one.
_CARRIES_IPV4_IN_LAST_32_BITS = tuple(
    ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)
#: Refused whatever the standard library's flags say (they change between Python releases): the IANA
#: special-purpose ranges that are not public unicast.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


@dataclass(frozen=True)
class Reach:
    """What the environment lets the sender reach (its data: ``payments_infra.environments``)."""

    allow_http: bool = False
    allow_loopback: bool = False


#: Staging and prod.
PUBLIC_ONLY = Reach()
#: Dev and the local target: plain HTTP, and receivers on this machine.
LOCAL = Reach(allow_http=True, allow_loopback=True)


class InvalidUrl(ValueError):
    """The URL's form is refused (the API's ``invalid_url``)."""


class RefusedAddress(ValueError):
    """The URL's host is, or resolves to, an address the sender may not reach."""


@dataclass(frozen=True)
class Target:
    """A checked URL, split as the sender uses it."""

    scheme: str
    host: str
    port: int
    #: The request target: path and query, as given.
    path: str

    @property
    def literal(self) -> IPAddress | None:
        """The host as an address, when the URL gives one (no resolution then)."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_url(url: str, reach: Reach) -> Target:
    """Check the URL's form and, for an address or a ``localhost`` name, the address; the parts to connect to."""
    if not isinstance(url, str) or not url:
        raise InvalidUrl("give the endpoint's URL as a string, e.g. https://example.com/webhooks")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or not url.isascii():
        raise InvalidUrl(
            "the URL holds whitespace, control or non-ASCII characters; percent-encode them, and give an "
            "internationalized host in its xn-- form"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced or unparsable [...] host
        raise InvalidUrl("the URL's host is not a name or an address (an IPv6 address goes in [ ])") from None
    schemes = ("https", "http") if reach.allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        raise InvalidUrl(f"the URL's scheme must be {' or '.join(schemes)}")
    if "#" in url:
        raise InvalidUrl("the URL has a fragment (#...); a fragment is never sent, remove it")
    if "@" in parts.netloc:
        raise InvalidUrl("the URL carries credentials (user:password@); authenticate deliveries by their signature")
    if not host:
        raise InvalidUrl("the URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise InvalidUrl("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise InvalidUrl("the URL's port is not a number from 1 to 65535")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if "[" in parts.netloc and ":" not in host:
        raise InvalidUrl("only an IPv6 address goes in [ ]; write an IPv4 address or a name without them")
    target = Target(parts.scheme.lower(), host.rstrip(".").lower(), port or _default_port(parts.scheme), path)
    literal = target.literal
    if literal is not None:
        _check(literal, reach)
    elif (target.host == "localhost" or target.host.endswith(".localhost")) and not reach.allow_loopback:
        raise RefusedAddress("localhost is this machine (loopback), which this environment does not deliver to")
    return target


def refusal(address: IPAddress, reach: Reach) -> str | None:
    """Why the sender may not connect to ``address`` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal(embedded, reach)
            return None if inner is None else f"{inner} (an IPv4 address inside an IPv6 one)"
    if address.is_loopback:
        return None if reach.allow_loopback else "loopback"
    if address.is_link_local:
        return "link-local (169.254.0.0/16 holds the instance metadata endpoint)"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.IPv4Network("100.64.0.0/10"):
        return "carrier-grade NAT (100.64.0.0/10)"
    if address.is_private:
        return "private"
    if not address.is_global or any(address in network for network in _NOT_PUBLIC):
        return "not globally routable (a reserved, documentation or special-purpose range)"
    return None


def resolve(target: Target, reach: Reach, resolver: Resolver = socket.getaddrinfo) -> list[IPAddress]:
    """Every address ``target``'s host stands for, each checked; RefusedAddress if any may not be reached, or if
    the name does not resolve (then ``socket.gaierror``'s message is kept for the attempt's record)."""
    literal = target.literal
    if literal is not None:
        _check(literal, reach)
        return [literal]
    answers = resolver(target.host, target.port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(f"{target.host} has no IPv4 or IPv6 address")
    for address in addresses:
        _check(address, reach, via=target.host)
    return addresses


def _check(address: IPAddress, reach: Reach, *, via: str | None = None) -> None:
    why = refusal(address, reach)
    if why is not None:
        name = f"{via} resolves to {address}" if via else f"{address}"
        raise RefusedAddress(f"{name}, which is {why}: webhooks are delivered to public addresses only")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in prefix for prefix in _CARRIES_IPV4_IN_LAST_32_BITS) and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80
