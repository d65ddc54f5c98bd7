"""Warm execution environments: one runtime process per environment with the handler imported, one event at a
time each, discarded on a timeout or a crash as Lambda does."""

from __future__ import annotations

import json
import queue
import select
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from payments_cli.errors import ServeError
from payments_cli.local.emulator import EMULATOR_ACCOUNT as ACCOUNT

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")


class Worker:
    """One warm execution environment: a runtime process with the handler imported."""

    def __init__(self, python: Path, task: Path, handler: str, env: Mapping[str, str], log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 - lives as long as the worker
        self.process = subprocess.Popen(  # noqa: S603
            [str(python), "-s", "-B", str(WORKER_SCRIPT), str(task), handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=dict(env),
            cwd=task,
            text=True,
            bufsize=1,
        )
        self._log_path = log

    def started(self) -> Worker:
        """This worker, once its runtime has imported the handler (a cold start)."""
        if self._read(timeout_s=60) is None:
            self.close()
            raise ServeError(f"the function's runtime did not start; see {self._log_path}")
        return self

    def _read(self, *, timeout_s: float) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self.process.stdout.readline()
        return dict(json.loads(line)) if line else None

    def invoke(self, request: dict[str, Any], *, timeout_s: float) -> dict[str, Any] | None:
        """Send one invocation; None when the function timed out or its process died."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return None
        return self._read(timeout_s=timeout_s)

    def close(self) -> None:
        """Stop the process."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class FunctionRuntime:
    """A function's pool of warm workers (concurrent requests get separate environments, as on Lambda)."""

    def __init__(
        self,
        *,
        name: str,
        handler: str,
        timeout_s: float,
        memory_mb: int,
        python: Path,
        task: Path,
        env: Mapping[str, str],
        log: Path,
        concurrency: int = 4,
    ) -> None:
        self.name, self.handler, self.timeout_s, self.memory_mb = name, handler, timeout_s, memory_mb
        self._spawn: Callable[[], Worker] = lambda: Worker(python, task, handler, env, log)
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        # The first cold start happens before serving: started here, waited for in `warm`, so the
        # functions of one API start side by side.
        self._warming = threading.Lock()
        self._first: Worker | None = self._spawn()
        self._all.append(self._first)

    def warm(self) -> FunctionRuntime:
        """This runtime, once its first worker has started (before the first request is served)."""
        with self._warming:
            if self._first is not None:
                first, self._first = self._first, None
                self._idle.put(first.started())
        return self

    def _new(self) -> Worker:
        worker = self._spawn()
        with self._lock:
            self._all.append(worker)
        return worker.started()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the handler on an event: {"result": …} or {"error": …}."""
        self.warm()
        with self._slots:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = self._new()
            request_id = str(uuid.uuid4())
            context = {
                "aws_request_id": request_id,
                "function_name": self.name,
                "invoked_function_arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.name}",
                "memory_limit_in_mb": self.memory_mb,
                "log_group_name": f"/aws/lambda/{self.name}",
            }
            reply = worker.invoke(
                {"id": request_id, "event": event, "context": context, "timeout_s": self.timeout_s},
                timeout_s=self.timeout_s,
            )
            if reply is None:
                worker.close()  # timed out or crashed: this environment is discarded, as Lambda does
                return {
                    "error": {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {self.timeout_s:.0f} seconds",
                    }
                }
            self._idle.put(worker)
            return reply

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            for worker in self._all:
                worker.close()
