"""The deployments the test session synthesizes once and shares between the infra and preflight tiers."""

from payments_infra.synth import Deployment

#: Three environments, a second suffix, and the longest suffix allowed, all in one synthesis.
DEPLOYMENTS = (
    Deployment("dev", "pr42"),
    Deployment("staging", "pr42"),
    Deployment("prod", "pr42"),
    Deployment("dev", "alice-dev"),
    Deployment("prod", "abcdefghij0123456789"),
)
ENVIRONMENTS = ("dev", "staging", "prod")
