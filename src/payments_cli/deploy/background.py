"""A terraform step run in a thread while the caller goes on (the local target applies its bootstrap stack this
way while the platform deploys, and plans the bootstrap's destroy while the platform's resources go)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from payments_cli.deploy.terraform import Summary, Terraform

T = TypeVar("T")


class BackgroundStep(Generic[T]):
    """One terraform step of a stack, run in a thread; ``wait`` returns its result (a summary) or raises its error."""

    def __init__(self, what: str, step: Callable[[], T]) -> None:
        self._step = step
        self._result: list[T] = []  # a list, not an Optional: a step's result may itself be None
        self._error: BaseException | None = None
        self._started = time.monotonic()
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=what)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result.append(self._step())
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits
            self._error = error
        finally:
            self.seconds = time.monotonic() - self._started

    @property
    def finished(self) -> bool:
        """Whether terraform has exited."""
        return not self._thread.is_alive()

    def join(self) -> None:
        """Wait for terraform to exit, whatever it did."""
        self._thread.join()

    def wait(self) -> T:
        """Wait for terraform to exit: its summary, or its error raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result[0]


def quiet(_line: str) -> None:
    """A background stack's progress: its lines would interleave with the platform's."""


class BackgroundApply(BackgroundStep[Summary]):
    """``terraform apply`` of one stack in a thread; with ``plan_first``, a plan applied only if it changes
    something (:meth:`Terraform.converge`)."""

    def __init__(self, terraform: Terraform, *, plan_first: bool = False, init: bool = False) -> None:
        def step() -> Summary:
            if init:
                terraform.init()
            return terraform.converge(progress=quiet) if plan_first else terraform.apply(progress=quiet)

        super().__init__(f"terraform apply in {terraform.workdir.name}", step)
