"""``payments serve``: run the local API server of one deployment in the foreground."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from payments_cli.local.api_server import (
    ApiHttpServer,
    FunctionRuntime,
    LocalApi,
    ServeError,
    read_routes,
)
from payments_cli.local.edge import read_authorizers, read_gateway_responses, read_rate_limit, stage_resource_arn
from payments_cli.local.functions import deployment_context, function_runtime
from payments_cli.local.state import StateFolder


def build_api(state: StateFolder, environment: str, suffix: str) -> tuple[LocalApi, dict[str, Any]]:
    """The LocalApi of a deployment, read back from the emulator; and its health document."""
    record, emulator, postgres_port = deployment_context(state, environment, suffix)
    folder = state.deployment_dir(environment, suffix)
    outputs = record["outputs"]
    rest_api_id = str(outputs["rest_api_id"])
    apigateway: Any = emulator.client("apigateway")
    routes, stages = read_routes(apigateway, rest_api_id)
    if not routes:
        raise ServeError(f"the REST API {rest_api_id} in the emulator has no AWS_PROXY routes")
    authorizers = read_authorizers(apigateway, rest_api_id)
    functions: dict[str, FunctionRuntime] = {}
    for name in sorted({route.function for route in routes} | {a.function for a in authorizers.values()}):
        functions[name] = function_runtime(
            state, environment, suffix, name, record=record, emulator=emulator, postgres_port=postgres_port
        )
    stage_limits = {
        stage: read_rate_limit(emulator.client("wafv2"), stage_resource_arn(rest_api_id, stage)) for stage in stages
    }
    api = LocalApi(
        api_id=rest_api_id,
        routes=routes,
        stages=stages,
        functions=functions,
        access_log=folder / "logs" / "access.log",
        authorizers=authorizers,
        gateway_responses=read_gateway_responses(apigateway, rest_api_id),
        rate_limits={stage: limit for stage, limit in stage_limits.items() if limit is not None},
    )
    health = {
        "deployment": f"{environment}/{suffix}",
        "rest_api_id": rest_api_id,
        "stages": stages,
        "routes": [
            f"{r.method} {r.resource} -> {r.function}"
            + (f" (authorizer {authorizers[r.authorizer_id].function})" if r.authorizer_id in authorizers else "")
            for r in routes
        ],
        "rate_limits": {stage: limit.describe() for stage, limit in api.rate_limits.items()},
        "emulator": emulator.endpoint,
    }
    return api, health


def serve_forever(state: StateFolder, environment: str, suffix: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT."""
    api, health = build_api(state, environment, suffix)
    try:
        server = ApiHttpServer(port, api, health)  # ServeError when the port was taken meanwhile

        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        print(
            f"serving {environment}/{suffix} on http://127.0.0.1:{port}/{'|'.join(api.stages)}",
            file=sys.stderr,
            flush=True,
        )
        for route in health["routes"]:
            print(f"  {route}", file=sys.stderr, flush=True)
        try:
            # werkzeug's serve_forever returns on KeyboardInterrupt itself; catching it here too keeps the stop
            # clean whichever part of the loop the signal lands in.
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        for function in api.functions.values():
            function.close()
    return 0
