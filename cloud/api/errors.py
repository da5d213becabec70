"""Domain errors → HTTP answers with a readable `detail`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cloud import CloudError, Forbidden, NotFound, Refused
from cloud.domain.auth import Unauthorized
from protocols import ProtocolError

STATUS = {NotFound: 404, Refused: 409, Forbidden: 403, Unauthorized: 401}


def install(app: FastAPI) -> None:
    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)
