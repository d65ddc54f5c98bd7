"""``preflight.checks.security_groups``: a rule is read alike in each of Terraform's three forms (PF707 and
PF903, which judge the rules, have their cases in test_storage.py and test_connectors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.checks.security_groups import Rule, rules
from preflight.loader import from_document

GROUP = "${aws_security_group.db.id}"


def _rules(resources: dict[str, object]) -> list[tuple[str, tuple[str, ...], tuple[str, ...], str, object]]:
    config = from_document({"resource": resources}, Path("main.tf.json"))
    return [
        (rule.owner.address, tuple(g.address for g in rule.groups), rule.cidrs, rule.protocol, rule.ports())
        for rule in rules(config, "ingress")
    ]


def test_each_form_of_a_rule_is_read_with_the_groups_it_applies_to() -> None:
    inline = {"from_port": 5432, "to_port": 5432, "protocol": "TCP", "cidr_blocks": ["10.0.0.0/8"]}
    resources = {
        "aws_security_group": {"db": {"name": "db", "ingress": [inline], "egress": [{"protocol": "-1"}]}},
        "aws_security_group_rule": {
            "v6": {
                "type": "ingress",
                "security_group_id": GROUP,
                "from_port": 5432,
                "to_port": 5432,
                "protocol": "tcp",
                "ipv6_cidr_blocks": ["::/0"],
            },
            "out": {"type": "egress", "security_group_id": GROUP, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]},
        },
        "aws_vpc_security_group_ingress_rule": {
            "all": {"security_group_id": GROUP, "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
        },
    }
    db = ("aws_security_group.db",)
    assert _rules(resources) == [
        ("aws_security_group.db", db, ("10.0.0.0/8",), "tcp", (5432, 5432)),
        ("aws_security_group_rule.v6", db, ("::/0",), "tcp", (5432, 5432)),
        ("aws_vpc_security_group_ingress_rule.all", db, ("0.0.0.0/0",), "-1", (0, 65535)),
    ]


@pytest.mark.parametrize(
    ("protocol", "ports", "opened"),
    [
        ("all", (None, None), (0, 65535)),
        ("tcp", ("${var.port}", "${var.port}"), None),
        ("tcp", (443, 443), (443, 443)),
    ],
    ids=["every-protocol", "computed-ports", "literal-ports"],
)
def test_the_ports_a_rule_opens(protocol: str, ports: tuple[object, object], opened: tuple[int, int] | None) -> None:
    config = from_document({"resource": {"aws_security_group": {"g": {"name": "g"}}}}, Path("main.tf.json"))
    group = config.lookup("aws_security_group.g")
    assert group is not None
    assert Rule(group, (group,), ("0.0.0.0/0",), protocol, *ports).ports() == opened
