"""Every check, one module per defect class; importing this package registers them all."""

from preflight.checks import (  # noqa: F401 - imported to register
    api_deployment,
    api_permissions,
    collisions,
    connectors,
    database,
    iam,
    lambda_package,
    naming,
    storage,
    webhooks,
)
