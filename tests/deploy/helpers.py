"""Rendering for the deploy tests, and botocore's own client-side parameter validation."""

from __future__ import annotations

import uuid
from typing import Any

import botocore.session
from botocore.validate import validate_parameters

from deploy.render import RenderContext
from deploy.specs import render_all

RUN_DATE = "2024-01-15"
_session = botocore.session.get_session()


def rendered(env: str, *overrides: str, run_date: str = RUN_DATE) -> tuple[RenderContext, dict]:
    ctx = RenderContext.load(env, overrides, run_date)
    return ctx, render_all(ctx)


def validate_call(service: str, operation: str, params: dict[str, Any]) -> None:
    """Raise botocore's ParamValidationError when ``params`` do not fit the API's input
    shape; idempotency tokens are filled first, as boto3 does before sending."""
    shape = _session.get_service_model(service).operation_model(operation).input_shape
    filled = dict(params)
    for name, member in shape.members.items():
        if member.metadata.get("idempotencyToken") and name not in filled:
            filled[name] = str(uuid.uuid4())
    validate_parameters(filled, shape)
