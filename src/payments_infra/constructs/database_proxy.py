"""Database proxy: RDS Proxy between the functions and the PostgreSQL instance, where the environment has
one (``config.proxy``; staging and prod). The functions connect to the proxy's endpoint; the proxy
pools connections to the instance, whose security group then admits the proxy and nothing else.

How large the pool may grow, and why the functions' reserved concurrency fits it, is environment data
(``EnvironmentConfig.connection_budget``, with the arithmetic beside each environment); preflight PF305
checks the same on the synthesized stack.

Authentication. Each login the functions use (the admin's RDS-managed master secret, the processor's and
the authorizer's role secrets) is one ``auth`` entry with ``auth_scheme = "SECRETS"``: the proxy reads
the secret to check the client's password (SCRAM-SHA-256, over TLS only) and logs in to the instance with
it. ``iam_auth = "DISABLED"``: the functions log in with the password from their secret, as they do
without a proxy; REQUIRED would need them to sign an IAM token (``rds:GenerateDBAuthToken``) instead,
and their roles an ``rds-db:connect`` grant, which the code does not do.

Empty secrets. Terraform creates the application logins' secrets with no value; the admin function fills
them at setup, through this proxy, logging in with the master secret, which RDS fills when it creates
the instance. Neither creating the proxy nor registering its target reads a secret's value (the provider
waits for the proxy to be ``available`` and does not wait for the target's health), and AWS documents a
secret that does not match the database as failing only the logins through that secret ("you can still
connect to other accounts where the secret credentials and the database passwords do match"). So an empty
secret is accepted at create time, and its login fails until setup has written it. This follows from the
provider's code and AWS's documentation; it has not been tried against an account (the local target
deploys dev, which has no proxy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktn_aws import iam, rds
from constructs import Construct

from payments_infra.constructs.database import Database
from payments_infra.constructs.network import DB_PORT, HTTPS, Network, security_group, tcp_path
from payments_infra.constructs.policy import Grant, grant_statements, policy_document, trust_policy
from payments_infra.environments import ProxyConfig
from payments_infra.naming import Naming

ENGINE_FAMILY = "POSTGRESQL"
#: The client's password is checked with SCRAM-SHA-256 (PostgreSQL's default since 14; MD5 is weaker).
CLIENT_AUTH_TYPE = "POSTGRES_SCRAM_SHA_256"


@dataclass(frozen=True)
class ProxyLogin:
    """A database login the proxy logs in with: the secret holding it, and that secret's read grant."""

    description: str
    secret_arn: str
    read: Grant


class DatabaseProxy(Construct):
    """The proxy, its role (reading exactly the logins' secrets), its security group, and its pool."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        proxy: ProxyConfig,
        naming: Naming,
        network: Network,
        database: Database,
        logins: Sequence[ProxyLogin],
    ) -> None:
        super().__init__(scope, id_)
        # RDS assumes the role for the proxy. No aws:SourceAccount condition: CreateDBProxy needs iam:PassRole
        # on the role, which no other account can be given, and the proxy roles of AWS's examples carry none (a
        # condition key RDS did not send would leave the proxy unable to read any secret, found only at login).
        trust = trust_policy(self, "trust", sid="RdsProxyAssumesRole", service="rds.amazonaws.com")
        self.role = iam.AwsRole(
            self,
            "role",
            name=naming.role("db-proxy"),
            description=f"RDS Proxy of the payment database: reads its logins' secrets ({naming.tag})",
            assume_role_policy=trust.json,
        )
        # The secrets are encrypted with the deployment's key: Secrets Manager decrypts them for the proxy.
        document = policy_document(
            self, "grants", grant_statements([login.read for login in logins], key_sid="DecryptLoginSecrets")
        )
        self.policy = iam.AwsPolicy(
            self,
            "policy",
            name=naming.policy("db-proxy"),
            description=f"Least privilege: the database proxy reads its logins ({naming.tag})",
            policy=document.json,
        )
        self.attachment = iam.AwsRolePolicyAttachment(
            self, "attachment", role=self.role.name, policy_arn=self.policy.arn
        )

        self.security_group = security_group(
            self,
            "security-group",
            naming=naming,
            vpc_id=network.vpc.id,
            purpose="proxy",
            description="RDS Proxy of the payment database: PostgreSQL from the payment processor, to the database",
        )
        self._connect(network)

        self.proxy = rds.AwsDbProxy(
            self,
            "proxy",
            name=naming.db_proxy("db"),
            engine_family=ENGINE_FAMILY,
            role_arn=self.role.arn,
            vpc_subnet_ids=network.private_subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            # Clients must use TLS; they verify the proxy's certificate (Amazon Trust Services roots, in the
            # functions' CA bundle) as they verify the instance's.
            require_tls=True,
            # Debug logging writes SQL text to CloudWatch, and the admin function's setup sends
            # "ALTER ROLE … PASSWORD '…'" through the proxy.
            debug_logging=False,
            auth=[
                rds.AwsDbProxy.AuthProperty(
                    description=login.description,
                    auth_scheme="SECRETS",
                    secret_arn=login.secret_arn,
                    iam_auth="DISABLED",
                    client_password_auth_type=CLIENT_AUTH_TYPE,
                )
                for login in logins
            ],
            # The role must hold its grants before the proxy first reads a secret.
            depends_on=[self.attachment],
        )
        self.target_group = rds.AwsDbProxyDefaultTargetGroup(
            self,
            "target-group",
            db_proxy_name=self.proxy.name,
            connection_pool_config=rds.AwsDbProxyDefaultTargetGroup.ConnectionPoolConfigProperty(
                max_connections_percent=proxy.max_connections_percent,
                max_idle_connections_percent=proxy.max_idle_connections_percent,
                connection_borrow_timeout=proxy.borrow_timeout_s,
            ),
        )
        self.target = rds.AwsDbProxyTarget(
            self,
            "target",
            db_proxy_name=self.proxy.name,
            target_group_name=self.target_group.name,
            db_instance_identifier=database.instance.identifier,
        )

    def _connect(self, network: Network) -> None:
        """The rules between the proxy and what it wires together: the functions, the database, Secrets Manager."""
        proxy = self.security_group.id
        tcp_path(
            self,
            source=network.function_sg.id,
            target=proxy,
            port=DB_PORT,
            ingress=("proxy-from-function", "PostgreSQL from the payment processor"),
            egress=("function-to-proxy", "PostgreSQL to the database proxy"),
        )
        tcp_path(
            self,
            source=proxy,
            target=network.database_sg.id,
            port=DB_PORT,
            ingress=("database-from-proxy", "PostgreSQL from the database proxy"),
            egress=("proxy-to-database", "PostgreSQL to the payment database"),
        )
        # The proxy reads its secrets from inside the VPC, whose only way out is the endpoints; without this a
        # proxy's target is reported to stay unavailable (PENDING_PROXY_CAPACITY, then "DBProxy Target
        # unavailable due to an internal error").
        tcp_path(
            self,
            source=proxy,
            target=network.endpoint_sg.id,
            port=HTTPS,
            ingress=("endpoints-from-proxy", "HTTPS to the interface endpoints from the database proxy"),
            egress=("proxy-to-endpoints", "HTTPS to the Secrets Manager endpoint"),
        )

    @property
    def endpoint(self) -> str:
        """The proxy's DNS name: the functions' DB_HOST."""
        return self.proxy.endpoint
