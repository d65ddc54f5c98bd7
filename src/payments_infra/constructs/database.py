"""Database: RDS PostgreSQL in the private subnets, encrypted, never public, multi-AZ as the
environment says, its master credentials generated and held by RDS in Secrets Manager."""

from __future__ import annotations

from cdktn_aws import rds
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.network import DB_PORT, Network
from payments_infra.constructs.policy import Grant, Statement
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

ENGINE_MAJOR = "16"
DATABASE_NAME = "payments"
MASTER_USERNAME = "payments_admin"


class Database(Construct):
    """The payment database and the secret its credentials live in."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        network: Network,
        key: EncryptionKey,
    ) -> None:
        super().__init__(scope, id_)
        self.key = key
        self.subnet_group = rds.AwsDbSubnetGroup(
            self,
            "subnets",
            name=naming.db_subnet_group("db"),
            description=f"Private subnets of the payment database ({naming.tag})",
            subnet_ids=network.private_subnet_ids,
        )
        # Refuse unencrypted connections server-side, whatever a client asks for.
        self.parameters = rds.AwsDbParameterGroup(
            self,
            "parameters",
            name=naming.db_parameter_group("db"),
            family=f"postgres{ENGINE_MAJOR}",
            description=f"Payment database parameters ({naming.tag})",
            parameter=[
                rds.AwsDbParameterGroup.ParameterProperty(name="rds.force_ssl", value="1"),
                # Explicit, so the functions' reserved concurrency can be checked against it (PF305). Static:
                # RDS applies it at the next reboot ("pending-reboot"); a new instance starts with it.
                rds.AwsDbParameterGroup.ParameterProperty(
                    name="max_connections", value=str(config.db_max_connections), apply_method="pending-reboot"
                ),
            ],
        )
        self.instance = rds.AwsDbInstance(
            self,
            "instance",
            identifier=naming.rds_identifier("db"),
            engine="postgres",
            engine_version=ENGINE_MAJOR,
            auto_minor_version_upgrade=True,
            instance_class=config.db_instance_class,
            allocated_storage=config.db_allocated_storage_gb,
            max_allocated_storage=config.db_max_allocated_storage_gb,
            storage_type="gp3",
            db_name=DATABASE_NAME,
            port=DB_PORT,
            username=MASTER_USERNAME,
            # RDS generates the password and keeps it in a Secrets Manager secret it rotates; no
            # password ever passes through code, variables or Terraform state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[network.database_sg.id],
            parameter_group_name=self.parameters.name,
            # Each of these three is written out, never left to the provider's default: storage_encrypted defaults
            # to false, and an unencrypted instance can be encrypted only by restoring an encrypted snapshot copy.
            publicly_accessible=False,
            multi_az=config.db_multi_az,
            storage_encrypted=True,
            kms_key_id=key.arn,
            backup_retention_period=config.db_backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=config.db_deletion_protection,
            skip_final_snapshot=config.db_skip_final_snapshot,
            final_snapshot_identifier=None if config.db_skip_final_snapshot else naming.rds_identifier("db-final"),
            apply_immediately=not config.db_deletion_protection,
        )

    @property
    def secret_arn(self) -> str:
        """ARN of the RDS-managed secret holding the admin (master) ``username`` and ``password``.

        Only the admin function (migrations, key management) may read it; the others log in as the
        application roles, whose secrets are ``Secret`` constructs.
        """
        return self.instance.master_user_secret.get(0).secret_arn

    def grant_admin_login(self, sid: str) -> Grant:
        """Read the master secret (encrypted with the deployment's key): the admin function's grant, and the
        database proxy's, nobody else's."""
        statement = Statement(sid=sid, actions=["secretsmanager:GetSecretValue"], resources=[self.secret_arn])
        return Grant((statement,), self.key.use_via("secretsmanager", "kms:Decrypt"))

    @property
    def address(self) -> str:
        """The instance's DNS name."""
        return self.instance.address
