"""Whether a Lambda function can reach the internet: outside a VPC it can; inside one, only if every subnet it
runs in has a default route (0.0.0.0/0) to an internet gateway, or to a public NAT gateway that stands in a
subnet routed to one. Followed through the references of the configuration (subnet -> route table association
-> route table -> its routes -> NAT gateway -> its subnet's routes), for inline ``route`` blocks and
``aws_route`` resources alike."""

from __future__ import annotations

from preflight.model import Configuration, Resource, is_literal

DEFAULT_ROUTE = "0.0.0.0/0"


def subnets_without_way_out(config: Configuration, function: Resource) -> list[Resource] | None:
    """The function's subnets that cannot reach the internet; [] when all can (or it is outside any VPC);
    None when its subnets are not resources of this configuration (existing subnets named by id: not
    provable here)."""
    subnet_ids = function.block("vpc_config").get("subnet_ids")
    if not subnet_ids:
        return []
    subnets = [subnet for subnet, _ in config.referenced(subnet_ids, "aws_subnet")]
    if not subnets:
        return None
    return [subnet for subnet in subnets if not _reaches(config, subnet, through_nat=True)]


def _tables(config: Configuration, subnet: Resource) -> list[Resource]:
    """The route tables a subnet is associated with (the VPC's main table, where one is declared, otherwise)."""
    found = [
        table
        for association in config.of_type("aws_route_table_association")
        if _refers_to(config, association.get("subnet_id"), subnet)
        for table, _ in config.referenced(association.get("route_table_id"), "aws_route_table")
    ]
    if found:
        return found
    vpcs = [vpc for vpc, _ in config.referenced(subnet.get("vpc_id"), "aws_vpc")]
    return [
        table
        for main in config.of_type("aws_main_route_table_association")
        if any(_refers_to(config, main.get("vpc_id"), vpc) for vpc in vpcs)
        for table, _ in config.referenced(main.get("route_table_id"), "aws_route_table")
    ]


def _default_routes(config: Configuration, table: Resource) -> list[dict[str, object]]:
    """The table's 0.0.0.0/0 routes: inline blocks and aws_route resources."""
    routes = [route for route in table.blocks("route") if route.get("cidr_block") == DEFAULT_ROUTE]
    routes += [
        dict(route.body)
        for route in config.of_type("aws_route")
        if route.get("destination_cidr_block") == DEFAULT_ROUTE
        and _refers_to(config, route.get("route_table_id"), table)
    ]
    return routes


def _reaches(config: Configuration, subnet: Resource, *, through_nat: bool) -> bool:
    for table in _tables(config, subnet):
        for route in _default_routes(config, table):
            if _to_internet_gateway(config, route.get("gateway_id")):
                return True
            if through_nat and _through_public_nat(config, route.get("nat_gateway_id")):
                return True
            # A transit gateway or a NAT instance's interface: where it leads is outside this configuration.
            if route.get("transit_gateway_id") or route.get("network_interface_id"):
                return True
    return False


def _to_internet_gateway(config: Configuration, target: object) -> bool:
    if not target:
        return False
    if is_literal(target):
        return str(target).startswith("igw-")
    return bool(config.referenced(target, "aws_internet_gateway"))


def _through_public_nat(config: Configuration, target: object) -> bool:
    if not target:
        return False
    if is_literal(target):
        return str(target).startswith("nat-")  # an existing gateway: trusted to be public
    for nat, _ in config.referenced(target, "aws_nat_gateway"):
        # A private NAT gateway translates into other networks only; a public one needs its own subnet routed
        # to an internet gateway.
        if nat.get("connectivity_type", "public") != "public":
            continue
        if any(
            _reaches(config, subnet, through_nat=False)
            for subnet, _ in config.referenced(nat.get("subnet_id"), "aws_subnet")
        ):
            return True
    return False


def _refers_to(config: Configuration, value: object, resource: Resource) -> bool:
    return any(found is resource for found, _ in config.referenced(value))
