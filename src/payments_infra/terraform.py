"""How this project runs the ``terraform`` binary: which CLI configuration, which versions.

The stacks admit the hashicorp/aws provider 5.100.0 (the only one in this machine's mirror) and 6.x
(what the cdktn-aws bindings are generated from: 6.62.0). The constructs use no argument that
5.100.0 lacks; the infra tests prove it with an offline ``terraform validate`` against 5.100.0.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from payments_infra.lambda_build import repo_root

#: The aws provider versions the synthesized configuration declares it works with.
AWS_PROVIDER_SOURCE = "hashicorp/aws"
AWS_PROVIDER_CONSTRAINT = ">= 5.100.0, < 7.0.0"
#: S3-native state locking (``use_lockfile``) arrived in Terraform 1.10.
TERRAFORM_REQUIRED_VERSION = ">= 1.10.0"
#: Where this machine keeps the provider mirror; the shipped CLI config points there.
PLUGIN_MIRROR = Path("/opt/tf-plugins")


def cli_config_file() -> Path:
    """The Terraform CLI configuration shipped in the repository (``terraform/cli.tfrc``)."""
    return repo_root() / "terraform" / "cli.tfrc"


def terraform_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running terraform: the shipped CLI config when the mirror exists, no update
    checks (they would time out without internet), no colour codes in captured output."""
    env = dict(os.environ if base is None else base)
    if PLUGIN_MIRROR.is_dir():
        env["TF_CLI_CONFIG_FILE"] = str(cli_config_file())
    env["CHECKPOINT_DISABLE"] = "1"
    # The aws provider spends most of every terraform command building and validating its schema (~4 s of
    # CPU per provider process, several processes per apply). Go's collector runs less often at 400: ~1/3
    # less CPU for ~150 MB more per process (a no-change `payments up` 30 s -> 28 s here). A GOGC the caller
    # set is kept.
    env.setdefault("GOGC", "400")
    env.setdefault("TF_IN_AUTOMATION", "1")
    return env


def find_terraform() -> str | None:
    """Path of the terraform binary (``TERRAFORM_BIN`` overrides PATH), or None."""
    explicit = os.environ.get("TERRAFORM_BIN")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("terraform")
