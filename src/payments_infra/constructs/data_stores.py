"""DataStores: what the functions keep and read. The database, behind its proxy where the environment has one,
and the functions' logins to it; the API keys' pepper; merchants' connector secrets; the transaction log; the
webhook queues. Each grants access from its own side, with what that takes of the deployment's key
(constructs.policy.Grant); the functions' roles collect those grants (constructs.functions).

Like Functions, DataStores is not a construct of its own: it makes its parts in the stack's scope, at the paths
they were first deployed at. A construct's path names its Terraform resources, so a level more would rename every
resource below it, and terraform would replace them: the database, its secrets and the transaction log with it.
"""

from __future__ import annotations

from constructs import Construct

from payments_infra.constructs.connector_secrets import ConnectorSecrets
from payments_infra.constructs.database import Database
from payments_infra.constructs.database_proxy import DatabaseProxy, ProxyLogin
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.network import Network
from payments_infra.constructs.secret import Secret
from payments_infra.constructs.transaction_log import TransactionLogBucket
from payments_infra.constructs.webhook_queues import WebhookQueues
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming


class DataStores:
    """The database and its logins (and proxy), the pepper, the connector secrets, the transaction log, the queues."""

    def __init__(
        self, scope: Construct, *, config: EnvironmentConfig, naming: Naming, network: Network, key: EncryptionKey
    ) -> None:
        self.database = Database(scope, "database", config=config, naming=naming, network=network, key=key)
        self.transaction_log = TransactionLogBucket(scope, "transaction-log", config=config, naming=naming, key=key)

        # The application's logins and the API-key pepper: created empty, filled by the admin function.
        def secret(id_: str, purpose: str, description: str) -> Secret:
            return Secret(scope, id_, config=config, naming=naming, key=key, purpose=purpose, description=description)

        self.app_login = secret("app-login", "db-app", "Database login of the processor (role <database>_app)")
        self.auth_login = secret("auth-login", "db-auth", "Database login of the API authorizer (role <database>_auth)")
        self.pepper = secret("api-key-pepper", "api-key-pepper", "Pepper of the API keys' stored hashes")
        self.queues = WebhookQueues(scope, "webhook-queues", config=config, naming=naming)
        self.connector_secrets = ConnectorSecrets(scope, "connector-secrets", naming=naming, key=key)
        # Where the environment has one, every function reaches the database through its proxy, which logs in
        # with the same three logins they use (the admin's, the processor's, the authorizer's).
        self.proxy = (
            DatabaseProxy(
                scope,
                "database-proxy",
                proxy=config.proxy,
                naming=naming,
                network=network,
                database=self.database,
                logins=[
                    ProxyLogin(
                        "Admin: RDS master user",
                        self.database.secret_arn,
                        self.database.grant_admin_login("ReadAdminLogin"),
                    ),
                    ProxyLogin(
                        "Processor: role <database>_app", self.app_login.arn, self.app_login.grant_read("ReadAppLogin")
                    ),
                    ProxyLogin(
                        "Authorizer: role <database>_auth",
                        self.auth_login.arn,
                        self.auth_login.grant_read("ReadAuthorizerLogin"),
                    ),
                ],
            )
            if config.proxy
            else None
        )

    @property
    def database_host(self) -> str:
        """What the functions connect to: the proxy's endpoint where there is one, else the instance's address."""
        return self.proxy.endpoint if self.proxy else self.database.address
