"""Secret: a Secrets Manager secret whose value is written outside Terraform.

Terraform creates the secret empty (no ``aws_secretsmanager_secret_version``), so no password or
pepper ever passes through a plan, a state file or the synthesized JSON. The admin function fills it
at setup (``payment_processor.admin``): the application roles' generated passwords, the API-key pepper.
Access is granted from here, with what it takes of the key, as grants the reading or writing function's role
collects.
"""

from __future__ import annotations

from cdktn_aws import secrets_manager
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Grant, Statement
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming


class Secret(Construct):
    """One secret, encrypted with the deployment's key."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        purpose: str,
        description: str,
    ) -> None:
        super().__init__(scope, id_)
        self.key = key
        self.secret = secrets_manager.AwsSecret(
            self,
            "secret",
            name=naming.secret(purpose),
            description=f"{description} ({naming.tag}); its value is set by the admin function, never by Terraform",
            kms_key_id=key.arn,
            # 0 deletes at once, so a destroyed dev deployment can be created again under the same name
            # ("InvalidRequestException: You can't create this secret because a secret with this name is
            # already scheduled for deletion").
            recovery_window_in_days=config.secret_recovery_window_days,
        )

    @property
    def arn(self) -> str:
        """The secret's ARN."""
        return self.secret.arn

    def grant_read(self, sid: str) -> Grant:
        """Read the value (the functions that log in with it): Secrets Manager decrypts it with the key."""
        statement = Statement(sid=sid, actions=["secretsmanager:GetSecretValue"], resources=[self.arn])
        return Grant((statement,), self.key.use_via("secretsmanager", "kms:Decrypt"))

    def grant_write(self, sid: str) -> Grant:
        """Read and set the value (the admin function, which generates it): a new value is encrypted under a
        new data key."""
        statement = Statement(
            sid=sid, actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], resources=[self.arn]
        )
        return Grant((statement,), self.key.use_via("secretsmanager", "kms:GenerateDataKey", "kms:Decrypt"))
