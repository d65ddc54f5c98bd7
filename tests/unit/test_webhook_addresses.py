"""The sender's SSRF rules: every refused address form, the URL's form, and names that resolve to refused
addresses (a resolver is injected only where the name is not ours to point: the rest resolve for real)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from payment_processor.webhooks.addresses import (
    LOCAL,
    PUBLIC_ONLY,
    InvalidUrl,
    RefusedAddress,
    parse_url,
    refusal,
    resolve,
)

REFUSED_EVERYWHERE = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",  # RFC 1918
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",  # link-local: the instance metadata endpoint
    "100.64.0.1",
    "100.127.255.254",  # carrier-grade NAT
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",  # multicast
    "0.0.0.0",
    "::",  # unspecified
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "2001:db8::1",  # reserved, documentation, benchmark
    "fc00::1",
    "fd12:3456::1",  # IPv6 unique local
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",  # NAT64 of the metadata endpoint and of 10.0.0.1
    "2002:a9fe:a9fe::1",
    "2002:a00:1::1",  # 6to4 of the same
    "::169.254.169.254",  # IPv4-compatible (deprecated, still parsed)
    # Found by review: ranges the standard library's flags let through on some Python releases.
    "64:ff9b:1::a9fe:a9fe",  # NAT64's local-use prefix (RFC 8215), to the metadata endpoint
    "::ffff:0:a9fe:a9fe",  # SIIT's IPv4-translated form
    "fec0::1",
    "5f00::1",
    "3fff::1",
    "192.0.0.100",
    "192.88.99.1",
]
LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED_EVERYWHERE)
def test_private_link_local_and_other_non_public_addresses_are_refused_even_where_loopback_is_allowed(
    address: str,
) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, PUBLIC_ONLY) is not None
    assert refusal(ip, LOCAL) is not None


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_in_any_form_is_refused_in_staging_and_prod_and_allowed_only_locally(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), PUBLIC_ONLY) is not None
    assert refusal(ipaddress.ip_address(address), LOCAL) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), PUBLIC_ONLY) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://[::ffff:127.0.0.1]/hooks",
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://10.1.2.3:8443/x",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
    ],
)
def test_a_url_naming_a_refused_address_is_refused_when_saved(url: str) -> None:
    with pytest.raises(RefusedAddress):
        parse_url(url, PUBLIC_ONLY)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://example.com/hooks", "scheme must be https"),
        ("ftp://example.com/hooks", "scheme"),
        ("https://user:pass@example.com/hooks", "credentials"),
        ("https://user@example.com/hooks", "credentials"),
        ("https://example.com/hooks#frag", "fragment"),
        ("https:///hooks", "no host"),
        ("https://example.com:0/", "port"),
        ("https://example.com:99999/", "port"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/\u200b", "non-ASCII"),
        ("https://bücher.example/", "xn--"),
        ("https://example.com/" + "a" * 2100, "longer than"),
        ("", "as a string"),
        ("https://[::1/hooks", "not a name or an address"),
        ("https://[127.0.0.1]/", "not a name or an address"),
        ("https://[zz]/", "not a name or an address"),
    ],
)
def test_a_url_of_the_wrong_form_is_refused_with_the_fix_in_the_message(url: str, fragment: str) -> None:
    with pytest.raises(InvalidUrl, match=fragment):
        parse_url(url, PUBLIC_ONLY)


def test_http_is_allowed_only_where_the_environment_says_so() -> None:
    assert parse_url("http://127.0.0.1:8080/h?x=1", LOCAL).path == "/h?x=1"
    target = parse_url("https://Example.COM./", PUBLIC_ONLY)
    assert (target.host, target.port, target.path) == ("example.com", 443, "/")


def test_localhost_resolved_for_real_is_refused_in_staging() -> None:
    target = parse_url("http://localhost:9/", LOCAL)
    assert {str(a) for a in resolve(target, LOCAL)} <= {"127.0.0.1", "::1"}
    with pytest.raises(RefusedAddress, match="loopback"):
        resolve(target, PUBLIC_ONLY)


def answers(*addresses: str) -> object:
    """A resolver that answers ``addresses`` for any name, as getaddrinfo would."""

    def resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for a in addresses:
            ip = ipaddress.ip_address(a)
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            out.append((family, socket.SOCK_STREAM, 6, "", (a, port)))
        return out

    return resolver


@pytest.mark.parametrize(
    ("resolved", "why"),
    [
        (["127.0.0.1"], "loopback"),
        (["169.254.169.254"], "link-local"),
        (["93.184.215.14", "10.0.0.7"], "private"),  # one private answer among public ones is enough
        (["fe80::1%eth0"], "link-local"),
    ],
)
def test_a_public_looking_name_that_resolves_to_a_refused_address_is_refused(resolved: list[str], why: str) -> None:
    target = parse_url("https://hooks.merchant.example/", PUBLIC_ONLY)
    with pytest.raises(RefusedAddress, match=why):
        resolve(target, PUBLIC_ONLY, answers(*[a.split("%")[0] for a in resolved]))  # type: ignore[arg-type]


def test_a_name_resolving_only_to_public_addresses_is_allowed_with_every_address_kept() -> None:
    target = parse_url("https://hooks.merchant.example/", PUBLIC_ONLY)
    got = resolve(target, PUBLIC_ONLY, answers("93.184.215.14", "2606:4700:4700::1111"))  # type: ignore[arg-type]
    assert [str(a) for a in got] == ["93.184.215.14", "2606:4700:4700::1111"]
