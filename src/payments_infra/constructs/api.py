"""API: the REST API in front of the processor, and everything it owns. Its routes (``ROUTES``) are the
processor's (``payment_processor.routes``), each an AWS_PROXY integration to the processor with its own scoped
invoke permission and the API-key authorizer in front (the authorizer, and its own invoke permission). Gateway
responses that answer in the API's JSON error shape; one deployment whose trigger hashes everything it serves; a
stage with access logs and throttling; and the WAF web ACL in front of the stage (constructs.rate_limit)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cdktn import Fn, TerraformResource, TerraformResourceLifecycle, TerraformStack
from cdktn_aws import api_gateway, lambda_
from constructs import Construct

from payment_processor import routes as processor_routes
from payments_infra.api_responses import GATEWAY_RESPONSES, gateway_response_template
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.function import Function
from payments_infra.constructs.logs import log_group
from payments_infra.constructs.rate_limit import CredentialRateLimit
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

STAGE = "v1"
#: Where deployments made before the account stack (stacks.account) kept API Gateway's account setting.
PREVIOUS_ACCOUNT_SETTING = "aws_api_gateway_account.api_account_3AA7F073"
#: Every route: (construct id, HTTP method, resource path), from the processor's one table
#: (payment_processor.routes). The ids name Terraform resources: renaming one replaces its method, integration
#: and permission.
ROUTES = tuple((route.name, route.method, route.path) for route in processor_routes.ROUTES)
#: Construct ids of the API resources by path, parents first; "/payments" and "/payments/{id}" keep the ids
#: they were first deployed with, one endpoint is "webhook_endpoint", the others are named by their last segment.
_FIRST_IDS = {
    "/payments": "payments",
    "/payments/{id}": "payment",
    "/webhook_endpoints/{id}": "webhook_endpoint",
    "/events/{id}": "event",
}
RESOURCE_IDS = {path: _FIRST_IDS.get(path, path.rsplit("/", 1)[1]) for path in processor_routes.paths()}
_PARAMETER = re.compile(r"\{(\w+)\}")
_Served = TypeVar(
    "_Served",
    api_gateway.AwsResource,
    api_gateway.AwsMethod,
    api_gateway.AwsIntegration,
    api_gateway.AwsAuthorizer,
    api_gateway.AwsGatewayResponse,
)
#: What the authorizer's answers are cached by: the header it reads the credential from, and the source address,
#: so a Deny for an address locked out after too many failed authentications never reaches the same key sent
#: from another address (payment_processor.failed_authentications).
IDENTITY_SOURCE = "method.request.header.Authorization, context.identity.sourceIp"
# One JSON line per request; no bodies, headers or query strings, so no card data or token can land here.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTimeEpoch",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integration.error",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class Route:
    """One method of the API and what it serves."""

    method: api_gateway.AwsMethod
    integration: api_gateway.AwsIntegration
    permission: lambda_.AwsPermission
    path: str  # "/payments/{id}/capture"


def configuration_hash(served: Sequence[Mapping[str, object]]) -> str:
    """A Terraform expression hashing the arguments every served resource, method and integration is
    created with, their references (ids, the integration's function URI) resolved by Terraform.

    Any change to what the API serves therefore creates a new deployment, and the stage never keeps
    serving an old configuration (a stage keeps the snapshot it was deployed with: a route added without a new
    deployment is not served until someone redeploys by hand). The arguments are hashed rather than the whole
    objects: a resource read back from AWS can differ from its creation (an unset map becomes ``{}``),
    which would change a whole-object hash on every plan and redeploy forever.
    """
    return Fn.sha1(Fn.jsonencode([{k: v for k, v in args.items() if v is not None} for args in served]))


def _literal_digest(value: object) -> object:
    """A literal argument as its SHA-256, a reference as itself.

    Literals are known at synthesis, so their digest changes exactly when they do; and a digest is safe
    inside the trigger's HCL expression, where a JSON template with quotes and backticks is not
    (Terraform: 'Invalid character: The "`" character is not valid').
    """
    encoded = json.dumps(value, sort_keys=True, default=str)
    if "${" in encoded or value is None:
        return value
    return hashlib.sha256(encoded.encode()).hexdigest()


class PaymentsApi(Construct):
    """REST API, routes, permissions, deployment, stage and its logging."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        processor: Function,
        authorizer: Function,
    ) -> None:
        """``processor``: the function every route invokes; ``authorizer``: the one that checks API keys."""
        super().__init__(scope, id_)
        self.api = api_gateway.AwsRestApi(
            self,
            "rest-api",
            name=naming.api("api"),
            description=f"Payment platform API ({naming.tag})",
            endpoint_configuration=api_gateway.AwsRestApi.EndpointConfigurationProperty(types=["REGIONAL"]),
        )
        # Every resource, method and integration the deployment serves, with the arguments it was
        # created with: the deployment's trigger hashes these.
        self._served: list[TerraformResource] = []
        self._served_arguments: list[dict[str, object]] = []
        # Parents first: RESOURCE_IDS lists a path after its parent.
        resources: dict[str, api_gateway.AwsResource] = {}
        for path, resource_id in RESOURCE_IDS.items():
            parent, _, part = path.rpartition("/")
            resources[path] = self._serve(
                api_gateway.AwsResource,
                resource_id,
                rest_api_id=self.api.id,
                parent_id=resources[parent].id if parent else self.api.root_resource_id,
                path_part=part,
            )
        self.authorizer = self._serve(
            api_gateway.AwsAuthorizer,
            "authorizer",
            name=naming.resource("api-keys"),
            rest_api_id=self.api.id,
            type="REQUEST",
            authorizer_uri=authorizer.invoke_arn,
            identity_source=IDENTITY_SOURCE,
            authorizer_result_ttl_in_seconds=config.api_authorizer_cache_s,
        )
        # Without it API Gateway cannot call the authorizer, and every request is a 500
        # ("Execution failed due to configuration error: Invalid permissions on Lambda function").
        self.authorizer_permission = lambda_.AwsPermission(
            self,
            "authorizer-permission",
            statement_id_prefix="AllowApiGatewayAuthorizer-",
            action="lambda:InvokeFunction",
            function_name=authorizer.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{self.api.execution_arn}/authorizers/{self.authorizer.id}",
        )
        for response_type, (status, code, message, headers) in GATEWAY_RESPONSES.items():
            self._serve(
                api_gateway.AwsGatewayResponse,
                f"response-{response_type.lower().replace('_', '-')}",
                rest_api_id=self.api.id,
                response_type=response_type,
                status_code=str(status),
                response_templates={"application/json": gateway_response_template(code, message)},
                response_parameters={f"gatewayresponse.header.{k}": f"'{v}'" for k, v in headers.items()} or None,
            )
        self.routes = [self._route(id_, resources[path], method, path, processor) for id_, method, path in ROUTES]
        self.deployment = api_gateway.AwsDeployment(
            self,
            "deployment",
            rest_api_id=self.api.id,
            description=f"Payments API ({naming.tag})",
            triggers={"redeployment": configuration_hash(self._served_arguments)},
            # A stage cannot point at nothing: the new deployment exists before the old one goes
            # ("BadRequestException: Active stages pointing to this deployment must be moved or deleted").
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            # Deploying before the routes and their permissions exist serves a partial API.
            depends_on=self._served + [route.permission for route in self.routes] + [self.authorizer_permission],
        )

        self.access_logs = log_group(
            self, "access-logs", config=config, naming=naming, key=key, service_path="/aws/apigateway", purpose="api"
        )
        self.stage = api_gateway.AwsStage(
            self,
            "stage",
            rest_api_id=self.api.id,
            deployment_id=self.deployment.id,
            stage_name=STAGE,
            description=f"Payments API stage ({naming.tag})",
            access_log_settings=api_gateway.AwsStage.AccessLogSettingsProperty(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            xray_tracing_enabled=False,
            # Access logging needs the account's CloudWatch role first ("BadRequestException: CloudWatch Logs role ARN
            # must be set in account settings to enable logging"): the account stack (stacks.account) sets it, and
            # both targets apply that stack before any deployment.
        )
        # Deployments made before the account stack set the account's role themselves, in this resource. Destroying it
        # would reset the account's setting under aws provider 6.x ("The destroy operation will now always reset the
        # API Gateway account settings"), undoing what the account stack set seconds before: it is forgotten instead.
        TerraformStack.of(self).add_override(
            "removed", [{"from": PREVIOUS_ACCOUNT_SETTING, "lifecycle": {"destroy": False}}]
        )
        api_gateway.AwsMethodSettings(
            self,
            "throttling",
            rest_api_id=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=api_gateway.AwsMethodSettings.SettingsProperty(
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                metrics_enabled=True,
                # Execution logging would make API Gateway create "API-Gateway-Execution-Logs_<api id>/v1"
                # itself: unencrypted, kept forever and outside this stack. Access logs (above) and the
                # function's own logs say what happened to each request.
                logging_level="OFF",
                # Full request/response logging would write request bodies to CloudWatch.
                data_trace_enabled=False,
            ),
        )
        # Made beside the API rather than in it: the web ACL was first deployed at the stack's "rate-limit", and a
        # construct's path names its resources (under "api/" terraform would replace the web ACL).
        self.rate_limit = CredentialRateLimit(scope, "rate-limit", config=config, naming=naming, stage=self.stage)

    def _route(
        self,
        id_: str,
        resource: api_gateway.AwsResource,
        http_method: str,
        path: str,
        function: Function,
    ) -> Route:
        # Query strings (limit, starting_after, created[gte], ...) are not declared: an AWS_PROXY integration
        # hands every one to the function, and nothing here validates or caches by them.
        parameters = {f"method.request.path.{name}": True for name in _PARAMETER.findall(path)} or None
        method = self._serve(
            api_gateway.AwsMethod,
            f"{id_}-method",
            rest_api_id=self.api.id,
            resource_id=resource.id,
            http_method=http_method,
            # Every route needs a valid API key: the authorizer answers before the function runs.
            authorization="CUSTOM",
            authorizer_id=self.authorizer.id,
            request_parameters=parameters,
        )
        integration = self._serve(
            api_gateway.AwsIntegration,
            f"{id_}-integration",
            rest_api_id=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="AWS_PROXY",
            # Lambda is always invoked with POST, whatever the client's method.
            integration_http_method="POST",
            uri=function.invoke_arn,
        )
        # Without it every call fails ("Execution failed due to configuration error: Invalid permissions on
        # Lambda function"). Scoped to this API, any stage, this method and path.
        permission = lambda_.AwsPermission(
            self,
            f"{id_}-permission",
            # A prefix, not a fixed id: the deployment's create_before_destroy extends to what it depends
            # on, so a replaced permission is created before the old one goes, and a fixed statement id
            # would collide ("ResourceConflictException: The statement id ... provided already exists").
            statement_id_prefix=f"AllowApiGateway-{id_}-",
            action="lambda:InvokeFunction",
            function_name=function.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{self.api.execution_arn}/*/{http_method}{_PARAMETER.sub('*', path)}",
        )
        return Route(method, integration, permission, path)

    def _serve(self, kind: type[_Served], id_: str, **arguments: Any) -> _Served:
        """Create a resource the deployment serves, recording its arguments for the trigger hash."""
        resource = kind(self, id_, **arguments)
        self._served.append(resource)
        # The id as well: a replaced resource (same arguments, new id) must redeploy too.
        self._served_arguments.append(
            {
                **{name: _literal_digest(value) for name, value in arguments.items()},
                "terraform_type": resource.terraform_resource_type,
                "id": resource.id,
            }
        )
        return resource

    @property
    def url(self) -> str:
        """The stage's base URL (``…/v1``)."""
        return self.stage.invoke_url
