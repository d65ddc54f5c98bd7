"""Reading security-group rules in every form Terraform has for them: inline ``ingress``/``egress`` blocks of an
``aws_security_group``, ``aws_security_group_rule`` (``type``), and the newer one-rule-per-resource
``aws_vpc_security_group_ingress_rule`` / ``aws_vpc_security_group_egress_rule``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from preflight.model import Configuration, Resource

#: The internet, in both address families.
WORLD = {"0.0.0.0/0", "::/0"}
#: The protocol values that mean every protocol and port.
ALL_PROTOCOLS = ("-1", "all")
Direction = Literal["ingress", "egress"]


@dataclass(frozen=True)
class Rule:
    """One rule. ``owner`` is the resource that writes it (reports point there); ``groups`` the security groups
    it applies to (the owner itself for an inline block, those ``security_group_id`` refers to otherwise)."""

    owner: Resource
    groups: tuple[Resource, ...]
    cidrs: tuple[str, ...]
    protocol: str
    from_port: object
    to_port: object

    def ports(self) -> tuple[int, int] | None:
        """The port range it opens (every port for all protocols); None when the ports are not literal."""
        if self.protocol in ALL_PROTOCOLS:
            return (0, 65535)
        low, high = self.from_port, self.to_port
        return (low, high) if isinstance(low, int) and isinstance(high, int) else None


def _cidrs(*values: object) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(str(v) for v in value)
    return tuple(found)


def rules(config: Configuration, direction: Direction) -> Iterator[Rule]:
    """Every ``direction`` rule of the configuration."""

    def groups_of(rule: Resource) -> tuple[Resource, ...]:
        return tuple(group for group, _ in config.referenced(rule.get("security_group_id"), "aws_security_group"))

    def classic(owner: Resource, groups: tuple[Resource, ...], body: Mapping[str, Any]) -> Rule:
        """An inline block and an aws_security_group_rule share their arguments' names."""
        return Rule(
            owner,
            groups,
            _cidrs(body.get("cidr_blocks"), body.get("ipv6_cidr_blocks")),
            str(body.get("protocol", "tcp")).lower(),
            body.get("from_port"),
            body.get("to_port"),
        )

    for group in config.of_type("aws_security_group"):
        for block in group.blocks(direction):
            yield classic(group, (group,), block)
    for rule in config.of_type("aws_security_group_rule"):
        if rule.get("type") == direction:
            yield classic(rule, groups_of(rule), rule.body)
    for rule in config.of_type(f"aws_vpc_security_group_{direction}_rule"):
        yield Rule(
            rule,
            groups_of(rule),
            _cidrs(rule.get("cidr_ipv4"), rule.get("cidr_ipv6")),
            str(rule.get("ip_protocol", "tcp")).lower(),
            rule.get("from_port"),
            rule.get("to_port"),
        )
