"""Class 9: acquirers. In prod a merchant without a connector of its own is refused (503 no_connector); the
simulated acquirer, which approves test tokens without moving money, must never stand in for one there. A
function that calls a real acquirer needs a way to it (a route to the internet), and that way is HTTPS alone."""

from __future__ import annotations

from collections.abc import Iterator

from preflight.checks.arguments import environment
from preflight.checks.routes import subnets_without_way_out
from preflight.checks.security_groups import ALL_PROTOCOLS, WORLD, rules
from preflight.checks.webhooks import stack_environment
from preflight.model import Configuration, Resource, Severity
from preflight.registry import Issue, check

#: Where real money moves.
REAL_MONEY = ("prod",)
VARIABLE = "SIMULATED_ACQUIRER_ALLOWED"
#: The variable that names the acquirers a function calls (payment_processor.config), and the one among them
#: that needs no network.
CONNECTORS = "PAYMENT_CONNECTORS"
IN_PROCESS = {"simulated"}
HTTPS = 443


@check(
    "PF901",
    title="The simulated acquirer may answer payments in prod",
    severity=Severity.ERROR,
    defect_class=9,
    rationale=(
        "SIMULATED_ACQUIRER_ALLOWED lets a merchant with no acquirer of its own be answered by the simulated one, "
        "which approves test tokens and moves no money. In dev and staging that is the test mode; in prod a "
        "merchant's customers would see payments succeed that no acquirer ever took, and the merchant would ship "
        "goods for them. Prod answers such a merchant 503 no_connector instead."
    ),
    fix="set simulated_acquirer_allowed to false in the prod config (payments_infra.environments)",
)
def simulated_acquirer_in_prod(config: Configuration) -> Iterator[Issue]:
    """Functions deployed to prod whose environment lets the simulated acquirer answer."""
    for function in config.of_type("aws_lambda_function"):
        deployed_to = stack_environment(config, function)
        if deployed_to not in REAL_MONEY:
            continue
        for variable, value in environment(function):
            if variable == VARIABLE and str(value).strip().lower() != "false":
                yield Issue(
                    function.address,
                    f"environment.variables.{variable}",
                    f"{variable}={value!r} in {deployed_to}: payments may be approved without an acquirer",
                )


def _networked_connectors(function: Resource) -> list[str]:
    """The acquirers reached over the network that the function's PAYMENT_CONNECTORS names."""
    for variable, value in environment(function):
        if variable == CONNECTORS and isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip() and n.strip() not in IN_PROCESS]
    return []


@check(
    "PF902",
    title="A function that calls an acquirer has no route to the internet",
    severity=Severity.ERROR,
    defect_class=9,
    rationale=(
        "An acquirer's API is on the internet. A function in a VPC reaches it only through a subnet whose route "
        "table sends 0.0.0.0/0 to a NAT gateway (itself in a subnet routed to an internet gateway) or to an "
        "internet gateway. Without one every connection times out: each payment waits out its deadline, is "
        "refused, and fails over or is declined, in every merchant's checkout at once."
    ),
    fix="route the function's subnets to a NAT gateway (payments_infra.constructs.network, nat_gateways in "
    "the environment's config), or remove the acquirer from PAYMENT_CONNECTORS",
)
def acquirer_without_route(config: Configuration) -> Iterator[Issue]:
    """Functions whose PAYMENT_CONNECTORS names a networked acquirer, in subnets with no way out."""
    for function in config.of_type("aws_lambda_function"):
        connectors = _networked_connectors(function)
        if not connectors:
            continue
        stranded = subnets_without_way_out(config, function)
        if stranded:
            yield Issue(
                function.address,
                "vpc_config.subnet_ids",
                f"calls {', '.join(connectors)} but subnet(s) {', '.join(s.address for s in stranded)} have no "
                "route to the internet",
            )


@check(
    "PF903",
    title="A payment function may send to the internet on a port other than 443",
    severity=Severity.ERROR,
    defect_class=9,
    rationale=(
        "The functions that hold card tokens, acquirer keys and database logins reach the internet only to call "
        "acquirers' HTTPS APIs. Egress to 0.0.0.0/0 or ::/0 on any other port (or every port) is a way out for "
        "whatever code runs there: data sent to a host of an attacker's choosing, on a port no one watches."
    ),
    fix="open egress to the internet on TCP 443 only; reach AWS services through VPC endpoints",
)
def egress_beyond_https(config: Configuration) -> Iterator[Issue]:
    """Egress rules from anywhere-open groups held by a Lambda function, on anything but TCP 443."""
    held = {
        group.address
        for function in config.of_type("aws_lambda_function")
        for group, _ in config.referenced(function.block("vpc_config").get("security_group_ids"), "aws_security_group")
    }
    for rule in rules(config, "egress"):
        world = sorted(WORLD & set(rule.cidrs))
        groups = [group.address for group in rule.groups if group.address in held]
        if not world or not groups:
            continue
        ports = rule.ports()
        if rule.protocol in ("tcp", "6") and ports == (HTTPS, HTTPS):
            continue
        opened = (
            "every port"
            if rule.protocol in ALL_PROTOCOLS
            else f"{rule.protocol} {ports[0]}-{ports[1]}"
            if ports
            else f"{rule.protocol} ports not known before apply"
        )
        yield Issue(rule.owner.address, "egress", f"{opened} to {', '.join(world)} from {', '.join(groups)}")
