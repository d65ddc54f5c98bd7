"""``payments serve``: run the local API server of one deployment in the foreground."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from types import FrameType
from typing import Any

from payments_cli.deploy.state import StateFolder
from payments_cli.errors import ServeError
from payments_cli.local.edge.arns import stage_resource_arn
from payments_cli.local.edge.authorizers import read_authorizers
from payments_cli.local.edge.responses import read_gateway_responses
from payments_cli.local.edge.server import ApiHttpServer, LocalApi, read_routes
from payments_cli.local.edge.waf import read_rate_limits
from payments_cli.local.lambda_runtime.functions import deployment_context, function_runtime
from payments_cli.local.lambda_runtime.queues import QueuePoller, QueueSource, read_queue_sources
from payments_cli.local.lambda_runtime.scheduler import Schedule, Scheduler, read_schedules
from payments_cli.local.lambda_runtime.workers import FunctionRuntime


def build_api(
    state: StateFolder, environment: str, suffix: str, *, aws_endpoint: str | None = None
) -> tuple[LocalApi, dict[str, Any]]:
    """The LocalApi of a deployment, read back from the emulator; and what ``payments serve`` prints of it (its
    routes, rate limits and the emulator's address: never served over HTTP).

    ``aws_endpoint`` is where the functions' AWS SDK calls go (default: the emulator). The resilience
    tests put a fault proxy there, in front of the emulator, to take S3 away from the functions alone.
    """
    record, emulator, postgres_port = deployment_context(state, environment, suffix)
    functions_emulator = emulator if aws_endpoint is None else dataclasses.replace(emulator, endpoint=aws_endpoint)
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
            state, environment, suffix, name, record=record, emulator=functions_emulator, postgres_port=postgres_port
        )
    for runtime in functions.values():
        runtime.warm()  # each one's first worker started as it was built: their cold starts overlap
    stage_limits = {
        stage: read_rate_limits(emulator.client("wafv2"), stage_resource_arn(rest_api_id, stage)) for stage in stages
    }
    api = LocalApi(
        api_id=rest_api_id,
        routes=routes,
        stages=stages,
        functions=functions,
        access_log=folder / "logs" / "access.log",
        authorizers=authorizers,
        gateway_responses=read_gateway_responses(apigateway, rest_api_id),
        rate_limits={stage: rules for stage, rules in stage_limits.items() if rules},
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
        "rate_limits": {stage: [rule.describe() for rule in rules] for stage, rules in api.rate_limits.items()},
        "emulator": emulator.endpoint,
    }
    return api, health


#: Set to 0 to serve without running the deployment's schedules (tests that count every delivery do).
SCHEDULES_VARIABLE = "PAYMENTS_LOCAL_SCHEDULES"


def schedules_enabled() -> bool:
    """Whether this environment asks the API server to run the schedules (the default) or not."""
    return os.environ.get(SCHEDULES_VARIABLE, "1").strip().lower() not in ("0", "off", "false", "no")


def start_schedules(state: StateFolder, environment: str, suffix: str) -> Scheduler | None:
    """Run the deployment's scheduled functions (EventBridge rate rules) as AWS would; None if it has none."""
    if not schedules_enabled():
        print(f"  schedules: off ({SCHEDULES_VARIABLE}={os.environ[SCHEDULES_VARIABLE]})", file=sys.stderr, flush=True)
        return None
    record, emulator, postgres_port = deployment_context(state, environment, suffix)
    names = record["outputs"].get("function_names") or []
    schedules, skipped = read_schedules(emulator.client("events"), [str(n) for n in names])
    for rule in skipped:
        print(f"  schedule {rule}: not run locally (only rate expressions are)", file=sys.stderr, flush=True)
    if not schedules:
        return None
    runtimes = {
        schedule.function: function_runtime(
            state,
            environment,
            suffix,
            schedule.function,
            record=record,
            emulator=emulator,
            postgres_port=postgres_port,
            concurrency=1,
        )
        for schedule in schedules
    }

    def report(schedule: Schedule, reply: dict[str, Any], elapsed_s: float) -> None:
        # A crash or timeout is the function's error; a run that went through but met an outage says so in
        # its own result's "error" (the reconcile job's report), which is worth a line too.
        error = reply.get("error")
        result = reply.get("result")
        if error:
            outcome = f"failed: {error.get('errorMessage') if isinstance(error, dict) else error}"
        elif isinstance(result, dict) and result.get("error"):
            outcome = f"ran, reporting: {result['error']}"
        else:
            outcome = "ok"
        line = f"schedule {schedule.rule} -> {schedule.function}: {outcome} ({elapsed_s:.1f}s)"
        print(line, file=sys.stderr, flush=True)

    scheduler = Scheduler(schedules, runtimes, report=report)
    for schedule in schedules:
        line = f"  every {schedule.every_s:g}s ({schedule.expression}) -> {schedule.function}"
        print(line, file=sys.stderr, flush=True)
    scheduler.start()
    return scheduler


def start_queue_sources(
    state: StateFolder, environment: str, suffix: str, *, aws_endpoint: str | None = None
) -> QueuePoller | None:
    """Run the functions fed by SQS (the webhook courier) as Lambda's pollers would; None if there are none.

    Not switched off with the schedules: nothing reaches these queues unless a scheduled job (or a test acting
    as one) puts it there. ``aws_endpoint`` is where the functions' AWS calls go (default: the emulator).
    """
    record, emulator, postgres_port = deployment_context(state, environment, suffix)
    names = [str(n) for n in record["outputs"].get("function_names") or []]
    sqs = emulator.client("sqs")
    sources = read_queue_sources(emulator.client("lambda"), sqs, names)
    if not sources:
        return None
    functions_emulator = emulator if aws_endpoint is None else dataclasses.replace(emulator, endpoint=aws_endpoint)
    runtimes = {
        source.function: function_runtime(
            state,
            environment,
            suffix,
            source.function,
            record=record,
            emulator=functions_emulator,
            postgres_port=postgres_port,
            concurrency=source.pollers,
        )
        for source in sources
    }

    def report(source: QueueSource, reply: dict[str, Any], taken: int) -> None:
        error = reply.get("error")
        failed = len((reply.get("result") or {}).get("batchItemFailures", [])) if not error else taken
        if error or failed:
            detail = error.get("errorMessage") if isinstance(error, dict) else f"{failed} of {taken} failed"
            print(f"queue -> {source.function}: {detail}", file=sys.stderr, flush=True)

    poller = QueuePoller(sources, runtimes, sqs, report=report)
    for source in sources:
        line = f"  queue {source.queue_arn.rsplit(':', 1)[-1]} -> {source.function} ({source.pollers} pollers)"
        print(line, file=sys.stderr, flush=True)
    poller.start()
    return poller


def serve_forever(state: StateFolder, environment: str, suffix: str, port: int) -> int:
    """Serve, and run the deployment's schedules, until SIGTERM/SIGINT."""
    api, health = build_api(state, environment, suffix)
    scheduler: Scheduler | None = None
    poller: QueuePoller | None = None
    try:
        server = ApiHttpServer(port, api)  # ServeError when the port was taken meanwhile

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
        scheduler = start_schedules(state, environment, suffix)
        poller = start_queue_sources(state, environment, suffix)
        try:
            # werkzeug's serve_forever returns on KeyboardInterrupt itself; catching it here too keeps the stop
            # clean whichever part of the loop the signal lands in.
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        if scheduler is not None:
            scheduler.stop()
            scheduler.close()
        if poller is not None:
            poller.stop()
            poller.close()
        for function in api.functions.values():
            function.close()
    return 0
