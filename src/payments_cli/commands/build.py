"""``payments build``: the deterministic Lambda zip of the processor."""

from __future__ import annotations

import argparse
from pathlib import Path

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import guarded
from payments_cli.commands.terminal import step, step_done


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``build`` subcommand."""
    from payments_infra.synth import DEFAULT_PACKAGE

    parser = commands.add_parser(
        "build",
        help="build the processor's Lambda zip (deterministic, for CPython 3.12 manylinux x86_64)",
        description=(
            "Install the pinned runtime dependencies of requirements/lambda.txt as Lambda-platform wheels, add "
            "src/payment_processor, and write a zip with sorted entries, fixed timestamps and modes: the same "
            "checkout always gives the same bytes. Prints the path, size and source_code_hash."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"where to write the zip (default: {DEFAULT_PACKAGE} in the checkout)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the zip and say where it is."""
    from payments_infra.lambda_build import build_lambda_package
    from payments_infra.synth import default_package_path

    def body() -> int:
        out: Path = args.out or default_package_path()
        started = step(f"building the Lambda package into {out}")
        package = build_lambda_package(out)
        step_done("built", started)
        print(f"{package.path}\n  size {package.size / 1e6:.1f} MB\n  source_code_hash {package.source_code_hash}")
        return EXIT_OK

    return guarded("build", body)
