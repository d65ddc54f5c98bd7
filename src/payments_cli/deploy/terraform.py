"""Running the real ``terraform`` binary: init, plan, apply, destroy and output, with machine-readable
(``-json``) output turned into progress lines and clear errors. Raw output goes to a log file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from payments_cli.errors import PaymentsError
from payments_infra.terraform import find_terraform, terraform_env


class TerraformError(PaymentsError):
    """terraform failed; the message holds its error summaries and where the full log is."""


class StateLocked(TerraformError):
    """Another run holds the deployment's state lock (``holder`` names it, from terraform's Lock Info)."""

    def __init__(self, message: str, holder: LockHolder | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class LockUnavailable(TerraformError):
    """terraform could not take the state lock although no run holds it: the state backend failed to write the
    lock (an emulator or S3 busy or down). Nothing was changed, so the command may be run again."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a state lock, as terraform's Lock Info says."""

    id: str
    who: str
    operation: str
    created: str

    def __str__(self) -> str:
        operation = self.operation.removeprefix("OperationType").lower() or "an operation"
        since = self.created or "an unknown time"
        return f"{self.who or 'an unknown run'} ({operation}, since {since}; lock ID {self.id})"


def lock_holder(text: str) -> LockHolder | None:
    """The holder terraform's "Error acquiring the state lock" names in its Lock Info section; None without one
    (the lock could not be written, but nobody holds it)."""
    _, found, info = text.partition("Lock Info:")
    if not found:
        return None
    fields: dict[str, str] = {}
    for line in info.splitlines():
        name, colon, value = line.strip(" │").partition(":")
        if colon and name.strip() in ("ID", "Path", "Operation", "Who", "Version", "Created", "Info"):
            fields.setdefault(name.strip(), value.strip())
    if not fields.get("ID"):
        return None
    return LockHolder(fields["ID"], fields.get("Who", ""), fields.get("Operation", ""), fields.get("Created", ""))


class TerraformMissing(TerraformError):
    """No terraform binary."""


@dataclass
class Summary:
    """What a plan or apply changes."""

    add: int = 0
    change: int = 0
    remove: int = 0
    changes: list[tuple[str, str]] = field(default_factory=list)  # (address, action)
    #: A plan's verdict (``-detailed-exitcode`` 2): an apply would change something, resources or outputs;
    #: after :meth:`Terraform.converge`, whether it applied one.
    applyable: bool = False
    #: An apply's output values (its last ``outputs`` message); None when nothing was applied, or when an
    #: output is sensitive (``-json`` leaves those values out).
    outputs: dict[str, Any] | None = None

    @property
    def total(self) -> int:
        """Resources changed."""
        return self.add + self.change + self.remove

    def __str__(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.remove} to destroy"


Progress = Callable[[str], None]


def stderr_progress(line: str) -> None:
    """Default progress: one line on stderr."""
    print(line, file=sys.stderr, flush=True)


class Terraform:
    """terraform in one working directory (a synthesized stack's folder)."""

    def __init__(
        self,
        workdir: Path,
        *,
        log: Path,
        env: dict[str, str] | None = None,
        lock_timeout: str = "0s",
        owner: str = "this deployment",
    ) -> None:
        binary = find_terraform()
        if binary is None:
            raise TerraformMissing(
                "terraform is not installed: install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/"
                "install) or set TERRAFORM_BIN to its path"
            )
        self.binary = binary
        self.workdir = workdir
        self.log = log
        self.env = terraform_env(env)
        self.lock_timeout = lock_timeout
        #: Whose state this is, as the lock errors name it ("the account stack" is shared by every deployment).
        self.owner = owner
        #: How long to wait before each further attempt when the lock could not be written (LockUnavailable).
        self.lock_retry_delays_s: tuple[float, ...] = LOCK_RETRY_DELAYS_S
        self.sleep: Callable[[float], None] = time.sleep
        log.parent.mkdir(parents=True, exist_ok=True)

    def _run(
        self, args: Sequence[str], *, on_message: Callable[[dict[str, Any]], None] | None = None
    ) -> tuple[int, list[dict[str, Any]], _Stderr]:
        command = [self.binary, *args]
        messages: list[dict[str, Any]] = []
        with open(self.log, "a", encoding="utf-8") as file:
            file.write(f"\n$ terraform {' '.join(args)}   # in {self.workdir}\n")
            file.flush()
            log = _SharedLog(file)
            process = subprocess.Popen(  # noqa: S603
                command,
                cwd=self.workdir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # A stray non-UTF-8 byte must not stop the stderr thread: that would bring the deadlock back.
                encoding="utf-8",
                errors="replace",
            )
            assert process.stdout is not None and process.stderr is not None
            stderr = _Stderr(process.stderr, log)
            try:
                for line in process.stdout:
                    log.write(line)
                    if line.startswith("{"):
                        try:
                            message = json.loads(line)
                        except json.JSONDecodeError:
                            continue
                        messages.append(message)
                        if on_message is not None:
                            on_message(message)
                code = process.wait()
                stderr.join()
            finally:
                # On an exception (a progress callback, Ctrl-C) terraform is left to finish or stop on its own
                # signal, as before; the stderr thread keeps draining but no longer writes to the closing log.
                log.close()
            return code, messages, stderr

    def _run_locked(
        self, what: str, args: Sequence[str], *, ok: tuple[int, ...], on_message: Callable[[dict[str, Any]], None]
    ) -> int:
        """Run a command that takes the state lock; its exit code (one of ``ok``), else its error.

        A lock that could not be written although nobody holds it (``LockUnavailable``: the backend was busy or
        briefly down) is tried again after ``lock_retry_delays_s``: terraform takes the lock before it reads or
        changes anything, so the failed attempt changed nothing. A lock another run holds is not waited for here
        (that is ``--lock-timeout``'s to say): its holder is named at once.
        """
        for delay in (*self.lock_retry_delays_s, None):
            code, messages, stderr = self._run(args, on_message=on_message)
            if code in ok:
                return code
            error = self._fail(what, messages, stderr)
            # An attempt that got as far as planning or changing anything had the lock: it is never run again.
            began = any(m.get("type") in _WORK_STARTED for m in messages)
            if not isinstance(error, LockUnavailable) or began or delay is None:
                raise error
            with open(self.log, "a", encoding="utf-8") as file:
                file.write(f"# {what}: the state lock could not be written and nobody holds it: again in {delay}s\n")
            self.sleep(delay)
        raise AssertionError("unreachable: the last attempt raises")

    def _fail(self, what: str, messages: list[dict[str, Any]], stderr: _Stderr) -> TerraformError:
        errors = [m for m in messages if m.get("type") == "diagnostic" and m.get("@level") == "error"]
        summaries = [
            f"{m['diagnostic'].get('summary', '')}: {m['diagnostic'].get('detail', '')}".strip(": ") for m in errors
        ]
        text = "\n  ".join(summaries) or stderr.tail.strip()[-2000:]
        if any(s.startswith(_STALE_PLAN_ERROR) for s in summaries):
            return StateLocked(
                f"{what}: another deploy of {self.owner} took the state lock and changed the state after this "
                f"run planned, so nothing was changed.\n  {text}\nRun the command again: it plans afresh."
            )
        if any(s.startswith(_STATE_UNLOCK_ERROR) for s in summaries):
            # Terraform releases the lock after the command's work: what it did is done, only the lock may remain.
            holder = lock_holder(text)
            unlock = f"`terraform force-unlock {holder.id}` in {self.workdir}" if holder else "`terraform force-unlock`"
            return TerraformError(
                f"{what} did its work but could not release the state lock, so the lock may still be held.\n  {text}\n"
                f"Check that the state backend answers; if the next run finds the lock held by this one, {unlock}."
            )
        if any(s.startswith(_STATE_LOCK_ERROR) for s in summaries) or stderr.state_locked:
            holder = lock_holder(text) or lock_holder("".join(stderr.lock_error))
            if holder is None:
                return LockUnavailable(
                    f"{what}: terraform could not take {self.owner}'s state lock, though no other run holds it "
                    "as far as terraform can tell (the state backend failed to write the lock, or a lock object is "
                    f"there that names no holder), so nothing was changed.\n  {text}\n"
                    "Run the command again; if it keeps failing, check that the state backend (S3, or the local "
                    "emulator: `payments status`) answers, and whether the state bucket holds a lock object "
                    "(`<state key>.tflock`) that names no holder: once no run uses the deployment, delete that object."
                )
            return StateLocked(
                f"{what}: {self.owner}'s state lock is held by {holder}, so nothing was changed.\n  {text}\n"
                "Wait for that run to finish and run the command again (if it is no longer alive, the lock is "
                f"stale: `terraform force-unlock {holder.id}` in {self.workdir}).",
                holder,
            )
        return TerraformError(f"{what} failed:\n  {text}\nFull log: {self.log}")

    def init(self, *, backend_config: Path | None = None) -> None:
        """``terraform init`` (``-reconfigure`` so a moved emulator endpoint is taken)."""
        self._init("terraform init", ["-reconfigure"], backend_config)

    def migrate_state(self, *, backend_config: Path | None = None) -> None:
        """``terraform init -migrate-state -force-copy``: the state moves from the backend the folder was last
        initialized with to the one its configuration names now (see ``deploy.self_hosted_state``)."""
        self._init("terraform init -migrate-state", ["-migrate-state", "-force-copy"], backend_config)

    def _init(self, what: str, flags: list[str], backend_config: Path | None) -> None:
        args = ["init", "-input=false", "-no-color", *flags]
        if backend_config is not None:
            args.append(f"-backend-config={backend_config.name}")
        code, messages, stderr = self._run(args)
        if code != 0:
            raise self._fail(what, messages, stderr)

    def plan(self, *, out: Path | None = None, destroy: bool = False) -> Summary:
        """``terraform plan`` (``-destroy`` for a destroy): what an apply would change. ``out`` saves the plan
        (a path inside the working directory) for :meth:`apply` to carry out exactly."""
        summary = Summary()

        def on_message(message: dict[str, Any]) -> None:
            _collect(summary, message)

        args = ["plan", "-json", "-input=false", "-detailed-exitcode", f"-lock-timeout={self.lock_timeout}"]
        if destroy:
            args.append("-destroy")
        if out is not None:
            args.append(f"-out={out.name}")
        code = self._run_locked("terraform plan", args, ok=(0, 2), on_message=on_message)
        summary.applyable = code == 2
        return summary

    def converge(self, *, progress: Progress = stderr_progress, destroy: bool = False) -> Summary:
        """Plan, then apply that saved plan only if it changes something.

        One refresh and one plan either way, as ``terraform apply`` does; what a run that changes nothing
        saves is the apply phase (another provider process walking the whole graph, ~2 s of CPU here).
        The plan still reads every resource back, so "no change" is proven against the real endpoint. The
        lock is released between the two commands: if another run changes the state in between, terraform
        refuses the stale plan and nothing is changed (see :meth:`_fail`). The saved plan holds the
        configuration and the prior state, so it is deleted as soon as it has served.
        """
        plan_file = self.workdir / _PLAN_FILE
        try:
            planned = self.plan(out=plan_file, destroy=destroy)
            if not planned.applyable:
                return planned
            applied = self.apply(progress=progress, destroy=destroy, plan_file=plan_file, planned=planned)
            applied.applyable = True  # what callers ask of a converge: did it change something
            return applied
        finally:
            plan_file.unlink(missing_ok=True)

    def apply(
        self,
        *,
        progress: Progress = stderr_progress,
        destroy: bool = False,
        plan_file: Path | None = None,
        planned: Summary | None = None,
        changing: Callable[[], None] | None = None,
        refresh: bool = True,
    ) -> Summary:
        """``terraform apply`` (or destroy), printing one line per resource done: ``[done/total]``.

        With ``plan_file`` it applies that saved plan (``planned``, what :meth:`plan` said of it, gives the
        total: a saved plan's apply prints no plan summary of its own). ``changing`` is called once, when the
        first resource starts to change: the refresh and the plan, terraform's busiest part, are over.
        ``refresh=False`` plans from the state as recorded, without reading every resource back first.
        """
        summary = Summary()
        if planned is not None:
            summary.add, summary.change, summary.remove = planned.add, planned.change, planned.remove
        done = 0
        started: dict[str, float] = {}
        changing_called = False
        verb = "destroy" if destroy and plan_file is None else "apply"
        pending = "destroying" if destroy else "creating"

        def on_message(message: dict[str, Any]) -> None:
            nonlocal done, changing_called
            _collect(summary, message)
            kind = message.get("type")
            hook = message.get("hook", {})
            address = hook.get("resource", {}).get("addr", "")
            if kind == "apply_start":
                if not changing_called and hook.get("action") != "read":  # data sources are read here too
                    changing_called = True
                    if changing is not None:
                        changing()
                started[address] = time.monotonic()
            elif kind == "apply_complete" and hook.get("action") != "read":  # data sources are not counted
                done += 1
                seconds = time.monotonic() - started.get(address, time.monotonic())
                action = {"create": "created", "update": "updated", "delete": "destroyed", "replace": "replaced"}.get(
                    hook.get("action", ""), hook.get("action", "")
                )
                progress(f"  [{done:>3}/{summary.total}] {action:9} {address} ({seconds:.0f}s)")
            elif kind == "apply_errored" and hook.get("action") != "read":
                progress(f"  [{done:>3}/{summary.total}] FAILED    {address}")
            elif (
                kind == "apply_progress"
                and int(hook.get("elapsed_seconds", 0)) % 30 == 0
                and hook.get("elapsed_seconds")
            ):
                progress(
                    f"          still {_DOING.get(hook.get('action', ''), pending)} {address} "
                    f"({hook.get('elapsed_seconds')}s)"
                )
            elif kind == "outputs" and verb == "apply":
                outputs = message.get("outputs", {})
                # -json leaves a sensitive output's value out: then the caller asks `terraform output`.
                if not any(value.get("sensitive") for value in outputs.values()):
                    summary.outputs = {name: value.get("value") for name, value in outputs.items()}

        args = [
            verb,
            "-json",
            "-input=false",
            *([] if refresh else ["-refresh=false"]),
            *([] if plan_file is not None else ["-auto-approve"]),  # a saved plan is its own approval
            f"-lock-timeout={self.lock_timeout}",
            *([] if plan_file is None else [plan_file.name]),
        ]
        self._run_locked(f"terraform {verb}", args, ok=(0,), on_message=on_message)
        if planned is not None:
            summary.changes = summary.changes or list(planned.changes)
        return summary

    def output(self) -> dict[str, Any]:
        """``terraform output`` as plain values."""
        result = subprocess.run(  # noqa: S603
            [self.binary, "output", "-json"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise TerraformError(f"terraform output failed: {result.stderr.strip()[-1000:]}")
        return {name: value.get("value") for name, value in json.loads(result.stdout or "{}").items()}


_STATE_LOCK_ERROR = "Error acquiring the state lock"
_STATE_UNLOCK_ERROR = "Error releasing the state lock"
#: The -json messages of a command that holds the lock and has begun its work (planning or changing resources).
_WORK_STARTED = frozenset({"planned_change", "change_summary", "apply_start", "apply_progress", "apply_complete"})
#: How many stderr lines from the state-lock error on are kept for its Lock Info (a dozen in terraform 1.11).
_LOCK_ERROR_LINES = 40
#: The waits before a command whose lock could not be written (though nobody holds it) is run again.
LOCK_RETRY_DELAYS_S = (1.0, 3.0)
_STALE_PLAN_ERROR = "Saved plan is stale"
#: How a progress line names a resource terraform is still working on, by the hook's action.
_DOING = {"delete": "destroying", "update": "updating", "create": "creating"}
#: Where :meth:`Terraform.converge` saves its plan, inside the stack's working directory.
_PLAN_FILE = "payments.tfplan"
# The error message shows the last 2,000 characters; keep a little more so stripping trailing noise still
# leaves them. Everything else is only in the log file.
_STDERR_TAIL_CHARS = 16 * 1024
_STDERR_CHUNK_CHARS = 8 * 1024  # a TF_LOG line can be huge (a whole request body): read at most this at once


class _SharedLog:
    """The log file, written by the stdout loop and the stderr thread; ignores writes once closed."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._open = True

    def write(self, text: str) -> None:
        """Append ``text``."""
        with self._lock:
            if self._open:
                self._file.write(text)

    def close(self) -> None:
        """Stop writing: the file is about to be closed."""
        with self._lock:
            self._open = False


class _Stderr:
    """terraform's stderr, drained on its own thread while the caller reads the ``-json`` stdout.

    Reading stderr only after stdout closes deadlocks as soon as terraform writes more than the pipe
    buffer (64 KiB on Linux) to stderr, as it does with ``TF_LOG`` set: terraform blocks writing stderr,
    so it never closes stdout. All of stderr goes to the log; memory holds only a bounded tail for the
    error message, and whether the state-lock error appeared anywhere in it.
    """

    def __init__(self, stream: IO[str], log: _SharedLog) -> None:
        self._stream = stream
        self._log = log
        self._chunks: deque[str] = deque()
        self._size = 0
        self.state_locked = False
        #: The lines from the state-lock error on (bounded): its Lock Info names the holder, and a TF_LOG flood
        #: after it would push it out of the tail.
        self.lock_error: list[str] = []
        self._thread = threading.Thread(target=self._drain, name="terraform-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        logging = True
        previous = ""
        for chunk in iter(lambda: self._stream.readline(_STDERR_CHUNK_CHARS), ""):
            if logging:
                try:
                    self._log.write(chunk)
                except OSError:  # a full disk must not stop the draining, or terraform blocks again
                    logging = False
            # The phrase may straddle two chunks of one long line.
            if _STATE_LOCK_ERROR in previous[-len(_STATE_LOCK_ERROR) :] + chunk:
                self.state_locked = True
            if self.state_locked and len(self.lock_error) < _LOCK_ERROR_LINES:
                self.lock_error.append(chunk)
            previous = chunk
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._chunks[0]) >= _STDERR_TAIL_CHARS:
                self._size -= len(self._chunks.popleft())
        self._stream.close()

    def join(self) -> None:
        """Wait until terraform closed its stderr (it has exited)."""
        self._thread.join()

    @property
    def tail(self) -> str:
        """The last ``_STDERR_TAIL_CHARS`` (or so) characters of stderr."""
        return "".join(self._chunks)


def _collect(summary: Summary, message: dict[str, Any]) -> None:
    if message.get("type") == "planned_change":
        change = message.get("change", {})
        summary.changes.append((change.get("resource", {}).get("addr", ""), change.get("action", "")))
    elif message.get("type") == "change_summary":
        changes = message.get("changes", {})
        summary.add, summary.change, summary.remove = (
            changes.get("add", 0),
            changes.get("change", 0),
            changes.get("remove", 0),
        )
