"""The platform stack: everything one deployment (environment + suffix) runs on, as a table of contents.

Each part owns its pieces and the glue between them: DataStores the database, its proxy, logins and the other
stores; Functions the five functions with their code, logs, roles, grants, schedule and queue trigger; the API its
routes, authorizer and WAF. Each takes the environment's config and the naming once.
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from payments_infra.constructs.admin_trail import AdminInvokeTrail
from payments_infra.constructs.api import PaymentsApi
from payments_infra.constructs.data_stores import DataStores
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.functions import Functions
from payments_infra.constructs.monitoring import Monitoring
from payments_infra.constructs.network import Network
from payments_infra.constructs.state_backend import use_state_backend
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import LambdaPackage
from payments_infra.naming import Naming
from payments_infra.stacks.provider import aws_provider


def platform_stack_name(naming: Naming) -> str:
    """``payments-<env>-<suffix>``: the folder under ``stacks/``."""
    return f"payments-{naming.tag}"


class PlatformStack(TerraformStack):
    """Network, key, data stores, functions, API, the admin trail, monitoring and the state backend."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, naming: Naming, package: LambdaPackage) -> None:
        super().__init__(scope, platform_stack_name(naming))
        aws_provider(self, region=config.region, environment=naming.environment, deployment=naming.suffix)
        use_state_backend(self, config=config, naming=naming)

        network = Network(self, "network", config=config, naming=naming)
        key = EncryptionKey(self, "encryption", config=config, naming=naming)
        stores = DataStores(self, config=config, naming=naming, network=network, key=key)
        functions = Functions(
            self, config=config, naming=naming, key=key, network=network, stores=stores, package=package
        )
        api = PaymentsApi(
            self,
            "api",
            config=config,
            naming=naming,
            key=key,
            processor=functions.processor,
            authorizer=functions.authorizer,
        )
        if config.admin_invoke_trail:
            AdminInvokeTrail(
                self,
                "admin-trail",
                config=config,
                naming=naming,
                key=key,
                admin_function_arn=functions.admin.function.arn,
            )
        Monitoring(
            self,
            "monitoring",
            config=config,
            naming=naming,
            key=key,
            functions=functions.unattended,
            reconcile=functions.reconcile,
            api=api,
            database=stores.database,
        )
        self._outputs(stores, functions, api)

    def _outputs(self, stores: DataStores, functions: Functions, api: PaymentsApi) -> None:
        """What the local target, the pipeline and an operator read back after an apply."""
        TerraformOutput(self, "api_url", value=api.url)
        TerraformOutput(self, "rest_api_id", value=api.api.id)
        TerraformOutput(self, "stage", value=api.stage.stage_name)
        TerraformOutput(self, "function_name", value=functions.processor.function_name)
        TerraformOutput(self, "transaction_log_bucket", value=stores.transaction_log.name)
        TerraformOutput(self, "database_secret_arn", value=stores.database.secret_arn)
        TerraformOutput(self, "admin_function_name", value=functions.admin.function_name)
        TerraformOutput(self, "database_address", value=stores.database.address)
        # Every function of the deployment: the local target runs the schedules that target these.
        TerraformOutput(self, "function_names", value=[f.function_name for f in functions.all])
        if stores.proxy:
            TerraformOutput(self, "database_proxy_endpoint", value=stores.proxy.endpoint)
