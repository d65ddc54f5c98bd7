"""Class 8: the webhook courier sends where merchants say; in staging and prod it must reach public HTTPS
addresses only (payment_processor.webhooks.addresses refuses the rest unless its environment allows them)."""

from __future__ import annotations

from collections.abc import Iterator

from preflight.checks.arguments import entries, environment
from preflight.model import Configuration, Resource, Severity, provider_default_tags
from preflight.registry import Issue, check

#: The environments where real merchants' URLs are called.
GUARDED_ENVIRONMENTS = ("staging", "prod")
#: The function settings that widen what a webhook may reach, and what each lets through.
WIDENING = {
    "WEBHOOKS_ALLOW_LOOPBACK": "deliveries to this machine's loopback addresses (127.0.0.0/8, ::1, localhost)",
    "WEBHOOKS_ALLOW_HTTP": "deliveries over plain http",
}


def stack_environment(config: Configuration, function: Resource) -> str | None:
    """The environment a function is deployed to: its own ``Environment`` tag, else the provider's default tag."""
    for source in (function.get("tags_all"), function.get("tags")):
        for name, value in entries(source):
            if name == "Environment" and isinstance(value, str):
                return value
    for tags in provider_default_tags(config.document):
        value = tags.get("Environment")
        if isinstance(value, str):
            return value
    return None


@check(
    "PF801",
    title="Webhooks may reach loopback or plain http in staging or prod",
    severity=Severity.ERROR,
    defect_class=8,
    rationale=(
        "The webhook sender calls URLs merchants choose. WEBHOOKS_ALLOW_LOOPBACK lets a delivery reach the host "
        "itself and WEBHOOKS_ALLOW_HTTP sends signed events in clear text: both exist for dev and the local "
        "target, where receivers run on 127.0.0.1. In staging or prod either turns the sender into a way to "
        "probe internal services (SSRF) or leaks events on the wire."
    ),
    fix="set webhooks_allow_loopback and webhooks_allow_http to false in the environment's config "
    "(payments_infra.environments)",
)
def webhooks_reach_too_far(config: Configuration) -> Iterator[Issue]:
    """Functions in staging or prod whose environment turns on a webhook widening."""
    for function in config.of_type("aws_lambda_function"):
        deployed_to = stack_environment(config, function)
        if deployed_to not in GUARDED_ENVIRONMENTS:
            continue
        for variable, value in environment(function):
            if variable in WIDENING and str(value).strip().lower() != "false":
                yield Issue(
                    function.address,
                    f"environment.variables.{variable}",
                    f"{variable}={value!r} in {deployed_to} allows {WIDENING[variable]}",
                )
