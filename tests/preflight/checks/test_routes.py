"""``preflight.checks.routes``: whether a function's subnets reach the internet, followed through small
hand-written networks (the project's stacks, with a route removed, are PF902's cases in test_connectors.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.checks.routes import subnets_without_way_out
from preflight.loader import from_document

SUBNET = "${aws_subnet.private.id}"
VPC = "${aws_vpc.main.id}"


def _network(route: dict[str, Any], *, associated: bool = True, **extra: dict[str, Any]) -> dict[str, Any]:
    """A VPC whose private subnet's route table holds ``route``; a function in that subnet; ``extra`` more
    resources by type. Without ``associated`` the subnet takes the VPC's main table instead."""
    resources: dict[str, Any] = {
        "aws_vpc": {"main": {"cidr_block": "10.0.0.0/16"}},
        "aws_internet_gateway": {"igw": {"vpc_id": VPC}},
        "aws_subnet": {
            "private": {"vpc_id": VPC, "cidr_block": "10.0.1.0/24"},
            "public": {"vpc_id": VPC, "cidr_block": "10.0.0.0/24"},
        },
        "aws_route_table": {
            "private": {"vpc_id": VPC, "route": [route]},
            "public": {
                "vpc_id": VPC,
                "route": [{"cidr_block": "0.0.0.0/0", "gateway_id": "${aws_internet_gateway.igw.id}"}],
            },
        },
        "aws_route_table_association": {
            "public": {"subnet_id": "${aws_subnet.public.id}", "route_table_id": "${aws_route_table.public.id}"}
        },
        "aws_lambda_function": {"f": {"function_name": "f", "vpc_config": {"subnet_ids": [SUBNET]}}},
        **extra,
    }
    private_table = {"route_table_id": "${aws_route_table.private.id}"}
    if associated:
        resources["aws_route_table_association"]["private"] = {"subnet_id": SUBNET, **private_table}
    else:
        resources["aws_main_route_table_association"] = {"main": {"vpc_id": VPC, **private_table}}
    return {"resource": resources}


def _stranded(document: dict[str, Any]) -> list[str] | None:
    config = from_document(document, Path("main.tf.json"))
    function = config.lookup("aws_lambda_function.f")
    assert function is not None
    stranded = subnets_without_way_out(config, function)
    return None if stranded is None else [subnet.address for subnet in stranded]


NAT = {"aws_nat_gateway": {"nat": {"subnet_id": "${aws_subnet.public.id}", "allocation_id": "eipalloc-1"}}}


@pytest.mark.parametrize(
    ("route", "extra", "stranded"),
    [
        ({"cidr_block": "0.0.0.0/0", "gateway_id": "${aws_internet_gateway.igw.id}"}, {}, []),
        ({"cidr_block": "0.0.0.0/0", "gateway_id": "igw-0abc"}, {}, []),
        ({"cidr_block": "0.0.0.0/0", "nat_gateway_id": "${aws_nat_gateway.nat.id}"}, NAT, []),
        ({"cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-0abc"}, {}, []),
        ({"cidr_block": "0.0.0.0/0", "transit_gateway_id": "tgw-0abc"}, {}, []),
        ({"cidr_block": "0.0.0.0/0", "gateway_id": "vgw-0abc"}, {}, ["aws_subnet.private"]),
        ({"cidr_block": "10.1.0.0/16", "gateway_id": "${aws_internet_gateway.igw.id}"}, {}, ["aws_subnet.private"]),
        (
            {"cidr_block": "0.0.0.0/0", "nat_gateway_id": "${aws_nat_gateway.nat.id}"},
            {"aws_nat_gateway": {"nat": {"subnet_id": "${aws_subnet.public.id}", "connectivity_type": "private"}}},
            ["aws_subnet.private"],
        ),
        (
            {"cidr_block": "0.0.0.0/0", "nat_gateway_id": "${aws_nat_gateway.nat.id}"},
            {"aws_nat_gateway": {"nat": {"subnet_id": SUBNET, "allocation_id": "eipalloc-1"}}},
            ["aws_subnet.private"],
        ),
    ],
    ids=[
        "internet-gateway",
        "existing-internet-gateway",
        "public-nat",
        "existing-nat",
        "transit-gateway",
        "virtual-private-gateway",
        "no-default-route",
        "private-nat",
        "nat-in-a-subnet-without-a-way-out",
    ],
)
def test_a_subnet_reaches_the_internet_only_through_a_default_route_that_leads_there(
    route: dict[str, Any], extra: dict[str, Any], stranded: list[str]
) -> None:
    assert _stranded(_network(route, **extra)) == stranded


def test_a_route_written_as_an_aws_route_resource_counts_like_an_inline_one() -> None:
    document = _network({"cidr_block": "10.1.0.0/16", "gateway_id": "local"})
    assert _stranded(document) == ["aws_subnet.private"]
    document["resource"]["aws_route"] = {
        "out": {
            "route_table_id": "${aws_route_table.private.id}",
            "destination_cidr_block": "0.0.0.0/0",
            "gateway_id": "${aws_internet_gateway.igw.id}",
        }
    }
    assert _stranded(document) == []


def test_a_subnet_without_an_association_uses_the_vpcs_main_table() -> None:
    routed = {"cidr_block": "0.0.0.0/0", "gateway_id": "${aws_internet_gateway.igw.id}"}
    assert _stranded(_network(routed, associated=False)) == []
    assert _stranded(_network({"cidr_block": "10.1.0.0/16", "gateway_id": "local"}, associated=False)) == [
        "aws_subnet.private"
    ]


def test_a_function_outside_a_vpc_reaches_the_internet_and_existing_subnets_cannot_be_judged() -> None:
    document = _network({"cidr_block": "10.1.0.0/16", "gateway_id": "local"})
    function = document["resource"]["aws_lambda_function"]["f"]
    del function["vpc_config"]
    assert _stranded(document) == []
    function["vpc_config"] = {"subnet_ids": ["subnet-0abc"]}
    assert _stranded(document) is None
