"""Render every deploy spec one environment's conf defines, and write them to a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.airflow import spec as airflow
from deploy.dataproc import spec as dataproc
from deploy.emr import spec as emr
from deploy.glue import spec as glue
from deploy.render import DeployError, RenderContext
from deploy.stepfunctions import spec as stepfunctions

__all__ = ["render_all", "write_files"]


def render_all(ctx: RenderContext) -> dict[str, Any]:
    """{relative path: JSON-able object or text} for each platform section in deploy:."""
    d = ctx.deploy
    files: dict[str, Any] = {}
    if d.glue:
        files.update(glue.render(ctx))
    if d.emr or d.emr_serverless:
        files.update(emr.render(ctx))
    if d.dataproc:
        files.update(dataproc.render(ctx))
    if d.stepfunctions:
        files.update(stepfunctions.render(ctx))
    if d.airflow:
        files.update(airflow.render(ctx))
    if not files:
        raise DeployError(f"conf/{ctx.env}.yaml deploy: names no platform "
                          "(glue, emr, emr_serverless, dataproc, stepfunctions, airflow)")
    return files


def write_files(files: dict[str, Any], out: Path) -> list[Path]:
    """Write ``files`` under ``out`` (JSON pretty-printed, text as is); return the paths."""
    written = []
    for relative, content in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
