"""Runs one Lambda function's handler the way the Lambda Python runtime does, for the local target.

This file is executed by the function's own interpreter (CPython 3.12 for ``python3.12``), not by the
``payments`` virtual environment, and imports nothing from this project: only the standard library and
the unpacked deployment zip, which is first on ``sys.path`` as ``/var/task`` is on Lambda.

Protocol: one JSON object per line on stdin ``{"id", "event", "context"}``; one per line on the
original stdout ``{"id", "result"}`` or ``{"id", "error": {"errorType", "errorMessage", "stackTrace"}}``.
The handler's own prints go to stderr, which the server writes to the function's log file.
Usage: python3.12 -s -B lambda_worker.py TASK_DIR MODULE.FUNCTION
"""

import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """The subset of Lambda's context object handlers use."""

    def __init__(self, fields: dict, deadline: float) -> None:  # type: ignore[type-arg]
        self.aws_request_id = fields.get("aws_request_id", "")
        self.function_name = fields.get("function_name", "")
        self.function_version = "$LATEST"
        self.invoked_function_arn = fields.get("invoked_function_arn", "")
        self.memory_limit_in_mb = int(fields.get("memory_limit_in_mb", 128))
        self.log_group_name = fields.get("log_group_name", "")
        self.log_stream_name = fields.get("log_stream_name", "")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    task, handler_name = sys.argv[1], sys.argv[2]
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() in the handler goes to the log, never into the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, task)
    os.chdir(task)
    module_name, function_name = handler_name.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        init_error = None
    except Exception as error:  # noqa: BLE001 - reported per invocation, as Lambda does
        handler, init_error = None, error
        traceback.print_exc()
    protocol.write(json.dumps({"ready": init_error is None}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        timeout = float(request.get("timeout_s", 3))
        context = Context(request.get("context", {}), time.monotonic() + timeout)
        if init_error is not None:
            reply = {
                "id": request["id"],
                "error": {
                    "errorType": "Runtime.ImportModuleError",
                    "errorMessage": f"Unable to import module '{module_name}': {init_error}",
                    "stackTrace": [],
                },
            }
        else:
            try:
                reply = {"id": request["id"], "result": handler(request["event"], context)}
            except Exception as error:  # noqa: BLE001 - the runtime reports any exception
                traceback.print_exc()
                reply = {
                    "id": request["id"],
                    "error": {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    },
                }
        protocol.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
