"""``payments check``: the preflight checker over synthesized (or any) Terraform JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from payments_cli.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from payments_cli.commands.common import guarded, synthesize_deployment
from payments_cli.commands.synth import add_deployment_flags
from payments_cli.commands.terminal import SEVERITY_STYLES, paint, use_color
from preflight.registry import MIN_REASON_LENGTH


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check`` subcommand."""
    parser = commands.add_parser(
        "check",
        help="preflight: find deploy-time defects in Terraform JSON before it touches an account",
        description=(
            "Check Terraform for the defects that fail deployments or weaken them: names without the deployment "
            "suffix or over limits, physical names two of the given stacks would both create, missing or too-wide "
            "IAM grants, unsafe RDS flags, placeholder Lambda packages, API Gateway without invoke permissions or "
            "redeployment triggers, unencrypted or public storage, open database ports, missing log retention.\n\n"
            "A FILE is Terraform JSON (the cdk.tf.json CDK for Terraform writes, or any *.tf.json) or the plan JSON "
            "of any Terraform project (terraform plan -out p && terraform show -json p > plan.json); the kind is "
            "told from the content. With no FILE, synthesizes --env/--suffix first and checks its stacks.\n"
            "A resource may silence one check for itself with a reason:\n"
            '  "//": {"preflight_skip": {"PF202": "why this grant must stay wide"}}\n\n'
            "Baseline: --write-baseline FILE --reason WHY records today's findings as accepted (an entry already "
            "in FILE keeps its reason); --baseline FILE then reports only findings not in it. An entry is matched "
            "by check id, file (relative to the baseline's folder), resource and attribute, never by line.\n\n"
            "Exit status: 0 no error finding (suppressed and baselined ones do not count), 1 at least one error "
            "finding, 2 unusable input (a file, a baseline or a flag) or a check that crashed (never 1).\n"
            "`payments check --list` prints every check with its rationale."
        ),
        epilog=(
            "examples:\n"
            "  payments check cdktf.out/stacks/payments-dev-pr42/cdk.tf.json\n"
            "  payments check --env prod --suffix pr42 --format sarif > preflight.sarif\n"
            "  terraform show -json plan.out > plan.json && payments check plan.json\n"
            "  payments check stacks/*/cdk.tf.json --write-baseline accepted.json --reason 'accepted until 2026-12'\n"
            "  payments check stacks/*/cdk.tf.json --baseline accepted.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="Terraform JSON or plan JSON files to check"
    )
    add_deployment_flags(parser, suffix_default="")
    parser.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="report format (default: text)"
    )
    parser.add_argument("--out", type=Path, default=Path("cdktf.out"), help="where to synthesize when no FILE is given")
    parser.add_argument("--package", type=Path, default=None, help="an already-built Lambda zip for that synthesis")
    parser.add_argument(
        "--list", action="store_true", help="list every check (id, severity, title, rationale) and exit"
    )
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument(
        "--baseline", type=Path, metavar="FILE", help="report only findings that are not in this baseline file"
    )
    baseline.add_argument(
        "--write-baseline", type=Path, metavar="FILE", help="record today's findings in FILE (atomically) as accepted"
    )
    parser.add_argument(
        "--reason",
        metavar="WHY",
        help=f"with --write-baseline: why the new entries are accepted (at least {MIN_REASON_LENGTH} characters)",
    )
    parser.set_defaults(run=run)


def _list_checks() -> int:
    from preflight.registry import DEFECT_CLASSES, all_checks

    color = use_color(sys.stdout)
    for check in all_checks():
        severity = paint(f"{check.severity:7}", SEVERITY_STYLES[check.severity], color=color)
        print(f"{check.id}  {severity}  {check.title}")
        print(f"        class {check.defect_class}: {DEFECT_CLASSES[check.defect_class]}")
        if check.prevents:
            print(f"        prevents: {', '.join(check.prevents)}")
        print(f"        why: {check.rationale}")
        print(f"        fix: {check.fix}\n")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Check the files (or a fresh synthesis), leave out what the baseline accepts (or record a baseline), and
    print the report in the chosen format."""
    if args.list:
        return _list_checks()
    files: list[Path] = list(args.files)
    suffix: str | None = args.suffix or None
    if not files and not suffix:
        print(
            "payments check: give the Terraform JSON FILEs to check, or --suffix (and --env) to synthesize a "
            "deployment first, e.g. `payments check --env dev --suffix pr42`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.reason is not None and args.write_baseline is None:
        print("payments check: --reason goes with --write-baseline FILE", file=sys.stderr)
        return EXIT_USAGE

    def body() -> int:
        from preflight import baseline
        from preflight.output import json_report, sarif, text
        from preflight.runner import check_files

        # Read first: a baseline that cannot be used stops the run before anything is synthesized or checked.
        accepted = baseline.read(args.baseline) if args.baseline is not None else None
        paths = files
        if not paths:
            assert suffix is not None
            result = synthesize_deployment(args.env, suffix, out=args.out, package=args.package)
            paths = [stack.path for stack in result.stacks]
        report = check_files(paths, suffix=suffix)
        if args.write_baseline is not None:
            if report.crashes:
                print(
                    f"payments check: {args.write_baseline} not written: {len(report.crashes)} check run(s) crashed, "
                    "so today's findings are not all known",
                    file=sys.stderr,
                )
            else:
                accepted = baseline.write(args.write_baseline, report.findings, args.reason)
                print(
                    f"payments check: wrote {len(accepted.entries)} entries to {args.write_baseline}", file=sys.stderr
                )
        baselined = None
        if accepted is not None:
            report, baselined = accepted.apply(report)
        if args.format == "text":
            sys.stdout.write(text.render(report, color=use_color(sys.stdout), baselined=baselined))
        else:
            sys.stdout.write(
                {"json": json_report.render, "sarif": sarif.render}[args.format](report, baselined=baselined)
            )
        if report.crashes:
            print(
                f"payments check: {len(report.crashes)} check run(s) crashed (a bug in preflight), so the report is "
                "incomplete; exit 2",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return EXIT_FAILED if report.errors else EXIT_OK

    return guarded("check", body)
