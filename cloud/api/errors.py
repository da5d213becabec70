"""Every refusal is JSON with a readable `detail`, and documented: domain errors → 4xx, the rest → 500.

`documented(401, 404)` gives a route's `responses=` so /openapi.json lists what it really answers.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cloud import CloudError, Forbidden, NotFound, Refused
from cloud.domain.auth import Unauthorized
from cloud.domain.throttle import Throttled
from protocols import ProtocolError

log = structlog.get_logger("cloud.api")

STATUS = {NotFound: 404, Refused: 409, Forbidden: 403, Unauthorized: 401, Throttled: 429}
REASONS = {
    401: "Not signed in, or the token is invalid or expired.",
    403: "Signed in, but this is not yours (another role, store or resident).",
    404: "No such cabinet, store, session or alarm.",
    409: "Refused by the rules right now; `detail` says why (offline, busy door, balance …).",
    413: "The body is larger than 1 MiB.",
    422: "The request does not match this schema; `detail` says where.",
    429: "Too many attempts; wait and try again.",
}


class Problem(BaseModel):
    """An error answer: a readable sentence, or (422) the list of what did not validate.

    `code` names the refusal for pages to translate (e.g. `door_busy`); `params` fill its blanks."""

    detail: str | list[dict[str, Any]]
    code: str | None = None
    params: dict[str, Any] | None = None


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    # Spelled out rather than `model=`: FastAPI would give an error the route's media type (CSV, SVG …).
    problem = {"application/json": {"schema": Problem.model_json_schema()}}
    return {code: {"description": REASONS[code], "content": problem} for code in codes}


class AsciiJSONResponse(JSONResponse):
    """Escapes non-ASCII: an echoed input may hold a lone surrogate, which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def install(app: FastAPI) -> None:
    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 409)
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Throttled) else None
        body = {"detail": str(exc), "code": exc.code, "params": jsonable_encoder(exc.params)}
        return JSONResponse(body, status_code=status, headers=retry)

    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Should never happen (tests/cloud/test_api_fuzz.py); when it does, log it and stay JSON.
        log.exception("unexpected error", method=request.method, path=request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
