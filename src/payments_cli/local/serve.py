"""``payments serve``: run the local API server of one deployment in the foreground."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from payments_cli.local import deviations
from payments_cli.local.api_server import (
    ApiHttpServer,
    FunctionRuntime,
    LocalApi,
    ServeError,
    deployed_zip,
    extract,
    read_routes,
)
from payments_cli.local.runtime import find_python
from payments_cli.local.services import postgres_for, running_emulator
from payments_cli.local.state import StateFolder, read_json


def build_api(state: StateFolder, environment: str, suffix: str) -> tuple[LocalApi, dict[str, Any]]:
    """The LocalApi of a deployment, read back from the emulator; and its health document."""
    folder = state.deployment_dir(environment, suffix)
    record = read_json(folder / "deployment.json")
    if record is None:
        raise ServeError(f"{environment}/{suffix} is not deployed on this machine: run `payments up` first")
    emulator = running_emulator(state)
    if emulator is None:
        raise ServeError("the local AWS emulator is not running: run `payments up` to start it and deploy")
    if emulator.generation != record.get("emulator_generation"):
        raise ServeError(
            f"the emulator was restarted since {environment}/{suffix} was deployed, so its resources are gone: "
            "run `payments up` again"
        )
    postgres = postgres_for(state)
    if not postgres.is_running():
        raise ServeError("the local PostgreSQL server is not running: run `payments up`")
    outputs = record["outputs"]
    rest_api_id = str(outputs["rest_api_id"])
    routes, stages = read_routes(emulator.client("apigateway"), rest_api_id)
    if not routes:
        raise ServeError(f"the REST API {rest_api_id} in the emulator has no AWS_PROXY routes")
    lambda_client: Any = emulator.client("lambda")
    functions: dict[str, FunctionRuntime] = {}
    for name in sorted({route.function for route in routes}):
        config = lambda_client.get_function(FunctionName=name)["Configuration"]
        runtime = str(config["Runtime"])
        if not runtime.startswith("python"):
            raise ServeError(f"{name} runs on {runtime}; the local target executes Python functions only")
        python = find_python(runtime.removeprefix("python"))
        package = deployed_zip(str(config["CodeSha256"]), Path(record["stack_dir"]) / "assets")
        task = extract(package, folder / "task")
        env = deviations.function_environment(
            config.get("Environment", {}).get("Variables", {}),
            postgres_port=postgres.port,
            database=str(record["database"]),
            endpoint=emulator.endpoint,
            function_name=name,
        )
        env["PATH"] = "/usr/bin:/bin"
        functions[name] = FunctionRuntime(
            name=name,
            handler=str(config["Handler"]),
            timeout_s=float(config.get("Timeout", 3)),
            memory_mb=int(config.get("MemorySize", 128)),
            python=python,
            task=task,
            env=env,
            log=folder / "logs" / f"function-{name}.log",
        )
    api = LocalApi(
        api_id=rest_api_id,
        routes=routes,
        stages=stages,
        functions=functions,
        access_log=folder / "logs" / "access.log",
    )
    health = {
        "deployment": f"{environment}/{suffix}",
        "rest_api_id": rest_api_id,
        "stages": stages,
        "routes": [f"{r.method} {r.resource} -> {r.function}" for r in routes],
        "emulator": emulator.endpoint,
    }
    return api, health


def serve_forever(state: StateFolder, environment: str, suffix: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT."""
    api, health = build_api(state, environment, suffix)
    server = ApiHttpServer(port, api, health)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"serving {environment}/{suffix} on http://127.0.0.1:{port}/{'|'.join(api.stages)}", file=sys.stderr, flush=True
    )
    for route in health["routes"]:
        print(f"  {route}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        for function in api.functions.values():
            function.close()
    return 0
