"""Bad input is a 4xx that names what was wrong, never a 500.

Routes validate what they know; these handlers are the net under them for the two input
errors Python raises far from the route: a number or date that no column or calendar can
hold (``OverflowError``: ints beyond 64 bits, a time zone offset past year 9999) and text
that is not valid Unicode (``UnicodeEncodeError``: a lone surrogate escaped in JSON).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities written as strings (JSON has no literal for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped and NaN spelled out: an error that echoes a lone
    surrogate or a NaN from the request still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(_finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


async def _validation_error(request: Request, error: RequestValidationError) -> AsciiJSONResponse:
    # FastAPI's own handler echoes the input as UTF-8, which fails on a lone surrogate.
    return AsciiJSONResponse(status_code=422, content={"detail": jsonable_encoder(error.errors())})


async def _out_of_range(request: Request, error: OverflowError) -> AsciiJSONResponse:
    logger.info("%s %s: value out of range: %s", request.method, request.url.path, error)
    return AsciiJSONResponse(status_code=422, content={
        "detail": f"a number or date in the request is out of range ({error}); integers must fit 64 bits "
                  "and dates stay within years 1-9999 in UTC"})


async def _not_unicode(request: Request, error: UnicodeEncodeError) -> AsciiJSONResponse:
    logger.info("%s %s: text is not valid Unicode: %s", request.method, request.url.path, error.reason)
    return AsciiJSONResponse(status_code=422, content={
        "detail": "text in the request is not valid Unicode (a lone surrogate such as \\ud800)"})


def add_input_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn input errors raised deep in a request into 422s."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(UnicodeEncodeError, _not_unicode)
