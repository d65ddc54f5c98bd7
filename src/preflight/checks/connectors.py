"""Class 9: acquirers. In prod a merchant without a connector of its own is refused (503 no_connector); the
simulated acquirer, which approves test tokens without moving money, must never stand in for one there."""

from __future__ import annotations

from collections.abc import Iterator

from preflight.checks.arguments import environment
from preflight.checks.webhooks import stack_environment
from preflight.model import Configuration, Severity
from preflight.registry import Issue, check

#: Where real money moves.
REAL_MONEY = ("prod",)
VARIABLE = "SIMULATED_ACQUIRER_ALLOWED"


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
