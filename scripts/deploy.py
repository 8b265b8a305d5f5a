#!/usr/bin/env python3
"""Render deploy specs from conf, and apply them to AWS or GCP when credentials are present.

    python scripts/deploy.py render --env glue --out deploy/rendered
    python scripts/deploy.py render --env emr --out deploy/rendered --run-date 2024-01-15
    python scripts/deploy.py apply --env glue --dist dist
    python scripts/deploy.py apply --env dataproc

``render`` writes, for each platform section of ``deploy:`` in conf/<env>.yaml: Glue
CreateJob requests, EMR AddJobFlowSteps and EMR Serverless StartJobRun requests,
Dataproc workflow template and batch requests, the Step Functions state machine with its
EventBridge rule and target, and the Airflow DAG. Per-run specs carry ``${RUN_DATE}``
unless ``--run-date`` is given. ``apply`` changes nothing without credentials (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file's folder must not shadow the repo's deploy/ package of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(REPO))

from deploy.apply import apply_aws, apply_dataproc  # noqa: E402
from deploy.render import DeployError, RenderContext  # noqa: E402
from deploy.specs import render_all, write_files  # noqa: E402
from etl_lib.config import ConfigError  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("render", "apply"):
        sub = commands.add_parser(name)
        sub.add_argument("--env", required=True, help="conf overlay: conf/<env>.yaml")
        sub.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                         help="override a conf value (repeatable)")
        sub.add_argument("--run-date", default=None, help="fill per-run specs for this day")
    commands.choices["render"].add_argument("--out", type=Path,
                                            default=REPO / "deploy" / "rendered")
    apply = commands.choices["apply"]
    apply.add_argument("--dist", type=Path, default=REPO / "dist", help="`make package` output")
    apply.add_argument("--jar-cache", type=Path,
                       default=Path.home() / ".cache" / "retail-etl" / "jars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        ctx = RenderContext.load(args.env, tuple(args.conf), args.run_date)
        files = render_all(ctx)
        if args.command == "render":
            for path in write_files(files, args.out):
                print(path)
            return 0
        if ctx.deploy.dataproc and not (ctx.deploy.glue or ctx.deploy.stepfunctions):
            apply_dataproc(ctx, files)
        else:
            apply_aws(ctx, files, args.dist, args.jar_cache)
    except (ConfigError, DeployError) as exc:  # CredentialsMissing included
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
