"""The local API server: the deployed REST API served on 127.0.0.1, each request executed by the
handler from the deployed zip under the function's runtime (see ``deviations``, gap 3).

Routes, integrations and stages are read back from the emulator's API Gateway; the function's
handler, environment, timeout and code hash from its Lambda. Requests become API Gateway proxy
events (v1) and the handler's proxy responses become HTTP responses.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import get_input_stream

from payments_cli.errors import ServeError
from payments_cli.local.edge.arns import method_arn
from payments_cli.local.edge.authorizers import Authorizer, AuthorizerCache, policy_effect
from payments_cli.local.edge.responses import GatewayResponse
from payments_cli.local.edge.waf import RateLimit, SlidingWindowLimiter
from payments_cli.local.emulator import EMULATOR_ACCOUNT as ACCOUNT
from payments_cli.local.lambda_runtime.workers import FunctionRuntime

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

HEALTH_PATH = "/__payments/health"
#: What the health path answers, to anyone: that the server is up, and nothing about the deployment (its
#: routes, limits and the emulator's address are `payments serve`'s banner and `payments status`'s to show).
HEALTH_ANSWER = b'{"status":"ok"}'


@dataclass(frozen=True)
class Route:
    """One method of one resource, integrated with one function."""

    method: str
    resource: str  # "/payments/{id}"
    pattern: re.Pattern[str]
    function: str
    resource_id: str
    authorizer_id: str | None = None  # a CUSTOM authorizer in front of the integration


def _compile(resource: str) -> re.Pattern[str]:
    parts = []
    for part in resource.strip("/").split("/"):
        match = re.fullmatch(r"\{(\w+)(\+?)\}", part)
        if match:
            parts.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
        else:
            parts.append(re.escape(part))
    return re.compile("^/" + "/".join(parts) + "$")


def read_routes(apigateway: Any, rest_api_id: str) -> tuple[list[Route], list[str]]:
    """The API's AWS_PROXY routes and its stage names, as deployed in the emulator."""
    routes = []
    resources = apigateway.get_resources(restApiId=rest_api_id, limit=500)["items"]
    for resource in resources:
        for method in resource.get("resourceMethods", {}) or {}:
            integration = apigateway.get_integration(
                restApiId=rest_api_id, resourceId=resource["id"], httpMethod=method
            )
            if integration.get("type") != "AWS_PROXY":
                continue
            match = re.search(r":function:([^/:]+)", integration.get("uri", ""))
            if match:
                details = apigateway.get_method(restApiId=rest_api_id, resourceId=resource["id"], httpMethod=method)
                authorizer = details.get("authorizerId") if details.get("authorizationType") == "CUSTOM" else None
                routes.append(
                    Route(
                        method,
                        resource["path"],
                        _compile(resource["path"]),
                        match.group(1),
                        resource["id"],
                        authorizer,
                    )
                )
    stages = [stage["stageName"] for stage in apigateway.get_stages(restApiId=rest_api_id).get("item", [])]
    return routes, stages


def proxy_event(
    route: Route,
    *,
    stage: str,
    api_id: str,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    match: re.Match[str],
) -> dict[str, Any]:
    """An API Gateway REST proxy event (v1) for one request."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in headers:
        single[key] = value
        multi.setdefault(key, []).append(value)
    parsed = parse_qs(query, keep_blank_values=True)
    now = datetime.now(UTC)
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": {k: v[-1] for k, v in parsed.items()} or None,
        "multiValueQueryStringParameters": parsed or None,
        "pathParameters": match.groupdict() or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": route.resource_id,
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent")},
            "domainName": f"{api_id}.execute-api.us-east-1.amazonaws.com",
            "apiId": api_id,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class LocalApi:
    """Routes plus the function runtimes behind them, and what API Gateway and WAF do before them."""

    def __init__(
        self,
        *,
        api_id: str,
        routes: list[Route],
        stages: list[str],
        functions: Mapping[str, FunctionRuntime],
        access_log: Path,
        authorizers: Mapping[str, Authorizer] | None = None,
        gateway_responses: Mapping[str, GatewayResponse] | None = None,
        rate_limits: Mapping[str, list[RateLimit]] | None = None,
    ) -> None:
        self.api_id, self.routes, self.stages, self.functions = api_id, routes, stages, functions
        self.access_log = access_log
        self.authorizers = dict(authorizers or {})
        self.gateway_responses = dict(gateway_responses or {})
        self.rate_limits = dict(rate_limits or {})
        self._limiters = {
            stage: [SlidingWindowLimiter(rule) for rule in rules] for stage, rules in self.rate_limits.items()
        }
        self._authorizer_cache = AuthorizerCache()
        self._log_lock = threading.Lock()

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one HTTP request as API Gateway would."""
        started = time.monotonic()
        url = urlsplit(raw_path)
        status, out_headers, out_body, route = self._dispatch(method, url.path, url.query, headers, body, source_ip)
        with self._log_lock, open(self.access_log, "a") as log:
            log.write(
                json.dumps(
                    {
                        "requestTime": datetime.now(UTC).isoformat(),
                        "ip": source_ip,
                        "httpMethod": method,
                        # The route's template only, as the deployed format logs it (ACCESS_LOG_FORMAT): the
                        # path itself is the caller's text, and may hold a card number or a secret.
                        "resourcePath": route.resource if route else None,
                        "status": status,
                        "responseLength": len(out_body),
                        "latencyMs": round((time.monotonic() - started) * 1000, 1),
                    }
                )
                + "\n"
            )
        return status, out_headers, out_body

    def _gateway(
        self, kind: str, request_id: str, authorizer: Mapping[str, Any] | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        response = self.gateway_responses.get(kind) or GatewayResponse(500, (), '{"message":null}')
        return response.render(request_id, authorizer)

    def _dispatch(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes, Route | None]:
        json_type = [("Content-Type", "application/json")]
        request_id = str(uuid.uuid4())
        stage, _, rest = path.lstrip("/").partition("/")
        if stage not in self.stages:
            return 403, json_type, b'{"message":"Forbidden"}', None
        lowered = {k.lower(): v for k, v in headers}
        # WAF runs first, before API Gateway matches a route: its rules in priority order, each counting only the
        # requests it aggregates (a request without the key is not counted by the per-credential rule).
        for limiter in self._limiters.get(stage, []):
            rule = limiter.rule
            key = rule.key_of(lowered, source_ip)
            if key is not None and not limiter.allow(key):
                return rule.status, [("Content-Type", rule.content_type), *rule.headers], rule.body, None
        resource_path = "/" + rest
        matched = [(r, m) for r in self.routes if (m := r.pattern.match(resource_path))]
        route_match = next(((r, m) for r, m in matched if r.method in (method, "ANY")), None)
        if route_match is None:
            # API Gateway's answer for an unknown path or method on a REST API.
            return (*self._gateway("MISSING_AUTHENTICATION_TOKEN", request_id), None)
        route, match = route_match
        event = proxy_event(
            route,
            stage=stage,
            api_id=self.api_id,
            method=method,
            path=resource_path,
            query=query,
            headers=headers,
            body=body,
            source_ip=source_ip,
            match=match,
        )
        event["requestContext"]["requestId"] = request_id
        if route.authorizer_id is not None:
            denied = self._authorize(route, event, lowered, request_id)
            if denied is not None:
                return (*denied, route)
        reply = self.functions[route.function].invoke(event)
        if "error" in reply:
            if reply["error"].get("errorType") == "Sandbox.Timedout":
                return 504, json_type, b'{"message": "Endpoint request timed out"}', route
            return 502, json_type, b'{"message": "Internal server error"}', route
        return (*_proxy_response(reply.get("result")), route)

    def _authorize(
        self, route: Route, event: dict[str, Any], headers: Mapping[str, str], request_id: str
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """Run the route's authorizer as API Gateway does; a response when the request stops here.

        On success the authorizer's context lands in ``event["requestContext"]["authorizer"]``.
        """
        authorizer = self.authorizers.get(str(route.authorizer_id))
        if authorizer is None:
            return self._gateway("AUTHORIZER_CONFIGURATION_ERROR", request_id)
        identity = headers.get(authorizer.header, "")
        if not identity.strip():
            return self._gateway("UNAUTHORIZED", request_id)  # the authorizer is not even called
        if authorizer.by_address:  # cached per credential and source address, as API Gateway keys it
            identity = f"{identity}\n{event['requestContext']['identity']['sourceIp']}"
        arn = method_arn(self.api_id, event["requestContext"]["stage"], event["httpMethod"], event["path"])
        answer = self._authorizer_cache.get(authorizer, identity)
        if answer is None:
            request = {
                **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
                **{k: event[k] for k in ("queryStringParameters", "pathParameters", "requestContext")},
                "type": "REQUEST",
                "methodArn": arn,
            }
            reply = self.functions[authorizer.function].invoke(request)
            if "error" in reply:
                unauthorized = reply["error"].get("errorMessage") == "Unauthorized"
                return self._gateway("UNAUTHORIZED" if unauthorized else "AUTHORIZER_FAILURE", request_id)
            answer = reply.get("result")
            if policy_effect(answer, arn) is None:
                return self._gateway("AUTHORIZER_CONFIGURATION_ERROR", request_id)
            assert isinstance(answer, dict)
            self._authorizer_cache.put(authorizer, identity, answer)
        if policy_effect(answer, arn) != "Allow":
            return self._gateway("ACCESS_DENIED", request_id, answer.get("context"))
        # API Gateway hands the context on with string values, plus the principal.
        context = {
            str(k): v if isinstance(v, str | int | float | bool) else str(v)
            for k, v in (answer.get("context") or {}).items()
        }
        event["requestContext"]["authorizer"] = {**context, "principalId": str(answer["principalId"])}
        return None


def _proxy_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """An AWS_PROXY result as an HTTP response; 502 for a malformed one, as API Gateway answers."""
    malformed = (502, [("Content-Type", "application/json")], b'{"message": "Internal server error"}')
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return malformed
    headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(key), str(v)) for v in values if (str(key), str(v)) not in headers]
    body = result.get("body") or ""
    try:
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    except ValueError:
        return malformed
    return int(result["statusCode"]), headers, data


#: The largest request body the server reads (a body sent chunked has no length to check up front). The
#: processor refuses more than 16 KiB itself; this only keeps a huge upload from exhausting memory.
MAX_BODY_BYTES = 1024 * 1024
# What the handler adds to the WSGI environ: the request as the client sent it, for ``LocalApi.handle``.
_RAW_TARGET = "payments.raw_target"
_RAW_HEADERS = "payments.raw_headers"


#: How long the server waits for the next bytes of a request before dropping the connection (API Gateway's own
#: client timeouts are its business; this one keeps a stalled client from holding a thread).
READ_TIMEOUT_S = 10.0


class _Handler(WSGIRequestHandler):
    """werkzeug's request handler (it decodes chunked bodies), keeping the request as sent, logging nothing."""

    server: ApiHttpServer
    # HTTP/1.1 answers, and 100-continue. werkzeug still closes the connection after every response (no keep-alive:
    # http.server cannot skip a body the application left unread, pallets/werkzeug#2397); clients reconnect.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers: 40 ms added to every keep-alive request (measured by
    # bench/authorizer_bench.py: p50 44 ms with it, 1.3 ms without, on the http.server this replaced).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # Every read of the connection (the request line, headers, body) waits at most this long: a client that
        # stops sending gives its thread back instead of holding it (the security review held 16 for 152 s).
        super().setup()
        self.connection.settimeout(self.server.read_timeout_s)

    def make_environ(self) -> WSGIEnvironment:
        """The WSGI environ, plus the raw request target and headers.

        PATH_INFO is percent-decoded (``..%2F..`` would arrive as ``../..``), and the environ joins repeated
        headers with commas and drops names containing ``_``; API Gateway's event has them as sent.
        """
        environ = super().make_environ()
        environ[_RAW_TARGET] = self.path
        environ[_RAW_HEADERS] = list(self.headers.items())
        return environ

    def log(self, type: str, message: str, *args: Any) -> None:
        """Requests are in the access log LocalApi writes; nothing on stderr."""


class ApiHttpServer(ThreadedWSGIServer):
    """HTTP on 127.0.0.1 in front of a LocalApi (werkzeug's threaded server, a thread per connection)."""

    def __init__(self, port: int, api: LocalApi, *, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.api = api
        self.read_timeout_s = read_timeout_s
        super().__init__("127.0.0.1", port, self._application, handler=_Handler)

    def server_bind(self) -> None:
        """Bind, or raise ServeError (werkzeug would print the error and exit the process)."""
        try:
            super().server_bind()
        except OSError as error:
            raise ServeError(
                f"cannot listen on 127.0.0.1:{self.port} ({error.strerror}): choose another port with --port"
            ) from error

    def _application(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """One request: the health answer, or the LocalApi's answer."""
        method = environ["REQUEST_METHOD"]
        try:
            body = _read_body(environ)
        except HTTPException as error:  # 413 over the limit, 400 for a malformed or cut-off body
            status, headers, payload = _error(error)
        else:
            raw_target = environ[_RAW_TARGET]
            if raw_target == HEALTH_PATH:
                status, headers, payload = 200, [("Content-Type", "application/json")], HEALTH_ANSWER
            else:
                status, headers, payload = self.api.handle(
                    method, raw_target, environ[_RAW_HEADERS], body, environ["REMOTE_ADDR"]
                )
        out = [(k, v) for k, v in headers if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        out.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, '')}".rstrip(), out)
        return [] if method == "HEAD" else [payload]


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, sent with Content-Length or chunked; RequestEntityTooLarge over MAX_BODY_BYTES.

    Reads at most one byte more than the limit: a larger Content-Length is refused before reading.
    """
    stream = get_input_stream(environ, max_content_length=MAX_BODY_BYTES + 1)
    body = stream.read()
    if len(body) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return body


def _error(error: HTTPException) -> tuple[int, list[tuple[str, str]], bytes]:
    """An error the server answers itself, as JSON like API Gateway's own answers."""
    if isinstance(error, RequestEntityTooLarge):
        status, message = 413, f"the request body is over {MAX_BODY_BYTES} bytes"
    else:
        status, message = 400, "the request body could not be read"
    return status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()
