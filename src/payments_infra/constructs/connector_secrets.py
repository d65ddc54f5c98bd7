"""Connector secrets: merchants' acquirer credentials, one Secrets Manager secret per merchant connector.

The admin function creates them at run time (``payments connectors set``), under one name prefix of the
deployment, encrypted with its key; Terraform never holds them (no secret in a plan or the state). This
construct makes no resource: it names the prefix and grants over it, so the admin function manages those
secrets alone and the processor reads only its own deployment's.
"""

from __future__ import annotations

from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Grant, Statement
from payments_infra.naming import Naming


class ConnectorSecrets(Construct):
    """The name prefix of a deployment's connector secrets, and the grants over it."""

    def __init__(self, scope: Construct, id_: str, *, naming: Naming, key: EncryptionKey) -> None:
        super().__init__(scope, id_)
        self.prefix = naming.secret("connectors")
        self.key = key
        # Secrets Manager appends "-" and six characters to a secret's ARN: the trailing * matches them too.
        self.arns = f"arn:{key.partition}:secretsmanager:{key.region}:{key.account_id}:secret:{self.prefix}/*"

    def grant_read(self, sid: str) -> Grant:
        """Read the secret keys (the processor and its reconcile job: they call the acquirers)."""
        statement = Statement(sid=sid, actions=["secretsmanager:GetSecretValue"], resources=[self.arns])
        return Grant((statement,), self.key.use_via("secretsmanager", "kms:Decrypt"))

    def grant_manage(self, sid: str) -> Grant:
        """Create, set and delete them (the admin function): each value is encrypted under a new data key."""
        statement = Statement(
            sid=sid,
            actions=["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"],
            resources=[self.arns],
        )
        return Grant((statement,), self.key.use_via("secretsmanager", "kms:GenerateDataKey"))
