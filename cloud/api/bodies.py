"""Request bodies are strict JSON of a sane size: valid UTF-8, no lone surrogates, no NaN.

Python's json module (which FastAPI parses with) accepts lone surrogates and NaN; they then fail
deep inside a database driver or a JSON encoder. Checked once here, for every route, with the
parser pydantic uses.
"""

from __future__ import annotations

from pydantic_core import from_json
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024  # the largest real body (a restock confirmation) is a few kB


class StrictJsonBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _refuse(413, f"the body is larger than {MAX_BODY} bytes", scope, receive, send)
                return
        if body.strip():
            try:
                from_json(body, allow_inf_nan=False)
            except ValueError as exc:
                await _refuse(422, f"the body is not valid JSON: {exc}", scope, receive, send)
                return
        await self.app(scope, _replay(body, None, receive), send)


def _may_be_json(scope: Scope) -> bool:
    """FastAPI reads a body as JSON when it says so, or when it says nothing."""
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


def _replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return pending or {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
