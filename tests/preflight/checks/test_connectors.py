"""PF901-PF903 (``preflight.checks.connectors``): the simulated acquirer in prod, functions that call an
acquirer without a route to the internet, egress beyond HTTPS."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.preflight.checks.cases import DELETE, Case, added, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, address, named


def _simulated_acquirer(value: str) -> Callable[[Document], set[str]]:
    """A prod stack whose processor and reconcile job were told the simulated acquirer may answer."""

    def mutate(doc: Document) -> set[str]:
        failed = set()
        for path in ("processor/function", "reconcile/function"):
            name, body = named(doc, "aws_lambda_function", path)
            body["environment"]["variables"]["SIMULATED_ACQUIRER_ALLOWED"] = value
            failed.add(address("aws_lambda_function", name))
        return failed

    return mutate


def _acquirer_callers(doc: Document) -> set[str]:
    return {address("aws_lambda_function", named(doc, "aws_lambda_function", p)[0]) for p in ACQUIRER_CALLERS}


ACQUIRER_CALLERS = ("processor/function", "reconcile/function")


def _without_route(path_end: str) -> Callable[[Document], set[str]]:
    """A stack whose network lost one route (the functions' way to the NAT, or the NAT's to the internet)."""

    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, "aws_route", path_end)
        del doc["resource"]["aws_route"][name]
        return _acquirer_callers(doc)

    return mutate


def _private_nat(doc: Document) -> set[str]:
    """A NAT gateway made private: it translates into other networks, never to the internet."""
    set_attributes(doc, "aws_nat_gateway", "network/nat-0", connectivity_type="private", allocation_id=DELETE)
    return _acquirer_callers(doc)


def _simulated_only_needs_no_route(doc: Document) -> set[str]:
    """The control: functions that call the simulated acquirer alone need no way out."""
    _without_route("network/private-internet")(doc)
    for path in ACQUIRER_CALLERS:
        named(doc, "aws_lambda_function", path)[1]["environment"]["variables"]["PAYMENT_CONNECTORS"] = "simulated"
    return set()


def _egress(
    group_path: str, rule: dict[str, object], kind: str = "aws_security_group_rule"
) -> Callable[[Document], set[str]]:
    """An egress rule added to a security group (the construct path of the group)."""

    def mutate(doc: Document) -> set[str]:
        group, _ = named(doc, "aws_security_group", group_path)
        return added(kind, "wide_egress", {"security_group_id": f"${{aws_security_group.{group}.id}}", **rule})(doc)

    return mutate


def _inline_egress_on_the_database(doc: Document) -> set[str]:
    """The control: a group no function holds is not a payment function's way out (PF707 is the database's)."""
    set_attributes(
        doc,
        "aws_security_group",
        "network/database-sg",
        egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
    )
    return set()


CASES = [
    Case("PF901", "simulated acquirer in prod", "prod", _simulated_acquirer("true")),
    Case("PF901", "simulated acquirer in prod, spelled otherwise", "prod", _simulated_acquirer("1")),
    Case("PF901", "staging may simulate", "staging", lambda d: set()),
    Case("PF902", "no route to the NAT gateway", "dev", _without_route("network/private-internet")),
    Case("PF902", "prod: the second AZ's route gone", "prod", _without_route("network/private-internet-1")),
    Case("PF902", "the NAT gateway's subnet not routed out", "dev", _without_route("network/public-internet")),
    Case("PF902", "a private NAT gateway", "staging", _private_nat),
    Case("PF902", "the simulated acquirer alone needs no route", "dev", _simulated_only_needs_no_route),
    Case(
        "PF903",
        "the egress group opened on every port",
        "prod",
        lambda d: set_attributes(
            d, "aws_security_group_rule", "network/egress-to-acquirers", protocol="-1", from_port=0, to_port=0
        ),
    ),
    Case(
        "PF903",
        "plain http to the internet from the processor's group",
        "dev",
        _egress(
            "network/function-sg",
            {"ip_protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_ipv4": "0.0.0.0/0"},
            "aws_vpc_security_group_egress_rule",
        ),
    ),
    Case(
        "PF903",
        "IPv6 anywhere on 8443",
        "staging",
        _egress(
            "network/egress-sg",
            {"type": "egress", "protocol": "tcp", "from_port": 8443, "to_port": 8443, "ipv6_cidr_blocks": ["::/0"]},
        ),
    ),
    Case("PF903", "a group no function holds", "dev", _inline_egress_on_the_database),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)
