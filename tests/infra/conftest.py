"""The infra tier: every environment synthesized once per test session (jsii is costly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from payments_infra.environments import EnvironmentConfig, get_environment
from payments_infra.synth import Deployment, SynthResult
from tests.deployments import DEPLOYMENTS, ENVIRONMENTS
from tests.infra.tfjson import Stack


def platform(result: SynthResult, environment: str, suffix: str = "pr42") -> Stack:
    """The platform stack of one deployment."""
    return Stack.load(result.stack(environment, suffix).path)


def bootstrap(result: SynthResult, environment: str, suffix: str = "pr42") -> Stack:
    """The bootstrap stack of one deployment."""
    return Stack.load(result.stack(environment, suffix, "bootstrap").path)


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def env_stack(request: pytest.FixtureRequest, synthesized: SynthResult) -> Stack:
    """The platform stack of each environment (suffix pr42)."""
    return platform(synthesized, request.param)


def config_of(stack: Stack) -> EnvironmentConfig:
    """The environment a platform stack was synthesized for (from its state key, payments/<env>/...)."""
    return get_environment(stack.doc["terraform"]["backend"]["s3"]["key"].split("/")[1])


def stacks_of(result: SynthResult) -> list[tuple[Deployment, Stack, Stack]]:
    """(deployment, bootstrap, platform) of every synthesized deployment."""
    return [
        (d, bootstrap(result, d.environment, d.suffix), platform(result, d.environment, d.suffix)) for d in DEPLOYMENTS
    ]


def repo() -> Path:
    """The checkout."""
    return Path(__file__).resolve().parents[2]
