"""Every place the local target differs from AWS, in one module, each named and explained.

None of this changes what is synthesized: ``cdk.tf.json`` is the file the ``aws`` target applies.
The local target adds, beside it, a Terraform override file and a backend configuration file, and
maps the function's environment when it executes the handler itself.

1. Endpoints. The aws provider and the S3 backend talk to the moto server on 127.0.0.1 with moto's
   fixed test credentials. ``skip_requesting_account_id`` stays false: with it true, execution ARNs
   lack the account and security group rules diff forever.
2. Emulator gaps, ignored only here:
   - moto does not store a DB parameter group's ``parameter`` blocks the way the provider reads them
     back (``rds.force_ssl`` would show as a change on every plan);
   - moto drops a Lambda function's ``dead_letter_config`` (the stacks set none today; listed so a
     future one does not become a perpetual diff).
3. Execution. moto cannot run Lambda code without Docker (its invoke answers 200 with a Docker error in
   the payload) and its API Gateway does not call AWS_PROXY integrations in server mode, so the local
   API server reads the routes back from the emulator and runs the handler from the deployed zip under
   CPython 3.12 itself (``lambda_runtime/``). The zip is the asset beside cdk.tf.json whose SHA-256
   the emulator reports as the function's CodeSha256.
4. The database. RDS endpoints in moto are fake hostnames; the function's ``DB_HOST``/``DB_PORT`` are
   mapped to the local PostgreSQL server, TLS is off on loopback (``DB_SSLMODE=disable``: the local
   server has no certificate), and ``DB_NAME`` becomes a database per deployment so two suffixes on
   one PostgreSQL server never share data. The role and password are the ones in the secret RDS
   (moto) created for the instance.
5. Bucket policies. moto applies the buckets' TLS-only policy (Deny s3:* when aws:SecureTransport is
   false) to every request, even over HTTPS, answering 403 to terraform's state reads and the
   processor's writes alike; so locally those ``aws_s3_bucket_policy`` resources are not created
   (``count = 0`` in the override). Preflight still checks the policy in cdk.tf.json.
6. What AWS does in front of the function is done by the local API server (``edge/``), from what is
   deployed in the emulator: the WAF rate rules (per credential; per address for credentials that are not
   a well-formed key, its scope-down regex run by Python's ``re``), the request authorizer (run from the zip,
   its answer cached for the deployed TTL, its policy evaluated as IAM does) and the gateway responses.
   The stage's own throttle, its access-log destination and the alarms are deployed but not enforced;
   the server writes its own access log under the deployment's ``logs/``. The admin function, which no
   service invokes, is run from the zip by ``payments up`` (setup) and ``payments keys``.
7. moto fixes, in ``moto_server.py``, which the local target runs instead of ``moto.server``: moto gives
   every DB instance one and the same DbiResourceId, which the aws provider reads instances back by (with
   two suffixes on one emulator neither could be read), it fails to delete a key whose history holds
   a delete marker (a state bucket could never be destroyed), and it answers a queue's RedrivePolicy with
   spaces SQS does not put there (every plan would change both webhook queues). Each fix makes moto answer
   as AWS does.
8. Schedules. moto stores EventBridge rules but never fires them, so the local API server's process runs
   the deployment's enabled ``rate(...)`` rules itself (``scheduler.py``): the target function from the
   zip, with the event EventBridge sends, at the rule's rate; the first run comes 5 s after the server
   starts rather than one period later. Cron rules are listed as not run.
9. Queue event sources. moto stores an SQS event source mapping and, while it is enabled, tries to invoke the
   function with Docker on every SendMessage (failing, and making the message visible again each time). So
   locally the mappings are created disabled (``enabled = false`` in the override) and the serving process
   polls each mapped queue itself (``queues.py``), as Lambda's pollers do: a batch of the mapping's size to
   the function from the zip, the messages it does not report failed (``batchItemFailures``) deleted, the
   others left to become visible again, and to the queue's dead-letter queue after its receive limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, EMULATOR_REGION

REGION = EMULATOR_REGION
#: Services the stacks use; each gets the emulator as its endpoint.
SERVICES = (
    "apigateway",
    "cloudwatch",
    "cloudwatchlogs",
    "ec2",
    "events",
    "iam",
    "kms",
    "lambda",
    "rds",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
    "wafv2",
)
OVERRIDE_FILE = "local_override.tf.json"
BACKEND_FILE = "local.s3.tfbackend"
#: (resource type, attribute) pairs moto does not round-trip (gap 2).
IGNORED_ATTRIBUTES = {
    "aws_db_parameter_group": ["parameter"],
    "aws_lambda_function": ["dead_letter_config"],
}


def provider_override(endpoint: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The override file: provider endpoints and credentials (gap 1), ignore_changes for moto's gaps (gap 2)."""
    provider = {
        "region": REGION,
        "access_key": EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "secret_key": EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "s3_use_path_style": True,
        "endpoints": [{service: endpoint for service in SERVICES}],
    }
    override: dict[str, Any] = {"provider": {"aws": [provider]}}
    resources: dict[str, dict[str, Any]] = {}
    for name in document.get("resource", {}).get("aws_s3_bucket_policy", {}):
        resources.setdefault("aws_s3_bucket_policy", {})[name] = {"count": 0}  # gap 5
    for name in document.get("resource", {}).get("aws_lambda_event_source_mapping", {}):
        resources.setdefault("aws_lambda_event_source_mapping", {})[name] = {"enabled": False}  # gap 9
    for kind, attributes in IGNORED_ATTRIBUTES.items():
        for name in document.get("resource", {}).get(kind, {}):
            resources.setdefault(kind, {})[name] = {"lifecycle": {"ignore_changes": attributes}}
    if resources:
        override["resource"] = resources
    return override


def backend_config(endpoint: str) -> str:
    """The S3 backend's settings for the emulator, as a ``-backend-config`` file (gap 1)."""
    return "\n".join(
        [
            f'endpoints = {{ s3 = "{endpoint}", sts = "{endpoint}", iam = "{endpoint}" }}',
            "use_path_style = true",
            "skip_credentials_validation = true",
            "skip_requesting_account_id = true",
            "skip_metadata_api_check = true",
            "skip_region_validation = true",
            f'access_key = "{EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"]}"',
            f'secret_key = "{EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}"',
            "",
        ]
    )


def write_local_files(stack_dir: Path, endpoint: str, *, with_backend: bool) -> None:
    """Write the override (and backend) files beside a synthesized stack."""
    document = json.loads((stack_dir / "cdk.tf.json").read_text())
    (stack_dir / OVERRIDE_FILE).write_text(json.dumps(provider_override(endpoint, document), indent=2) + "\n")
    if with_backend:
        (stack_dir / BACKEND_FILE).write_text(backend_config(endpoint))


def local_database_name(environment: str, suffix: str) -> str:
    """The local database of one deployment (gap 4): ``payments_<env>_<suffix>``."""
    return "payments_" + re.sub(r"[^a-z0-9]+", "_", f"{environment}_{suffix}")


def function_environment(
    deployed: Mapping[str, str], *, postgres_port: int, database: str, endpoint: str, function_name: str
) -> dict[str, str]:
    """The environment the handler runs with locally: the deployed one, with the database mapped to
    the local server (gap 4) and the AWS SDK pointed at the emulator (gap 1)."""
    return {
        **deployed,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(postgres_port),
        "DB_NAME": database,
        "DB_SSLMODE": "disable",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        **EMULATOR_CREDENTIALS,
    }
