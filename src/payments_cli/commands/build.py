"""``payments build``: the deterministic Lambda zip of the processor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from payments_cli.commands import EXIT_FAILED, EXIT_OK


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
    from payments_infra.lambda_build import BuildError, build_lambda_package
    from payments_infra.synth import default_package_path

    out: Path = args.out or default_package_path()
    print(f"building the Lambda package into {out} ...", file=sys.stderr)
    try:
        package = build_lambda_package(out)
    except BuildError as error:
        print(f"payments build: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{package.path}\n  size {package.size / 1e6:.1f} MB\n  source_code_hash {package.source_code_hash}")
    return EXIT_OK
