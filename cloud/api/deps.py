"""Dependencies: the database session, the context, the caller."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloud.context import CloudContext
from cloud.db.models import User
from cloud.domain.auth import Unauthorized, account

bearer = HTTPBearer(auto_error=False)
# What TokenSigner issues: `user_id.expiry.signature`, digits and unpadded urlsafe base64, ASCII only.
TOKEN_SHAPE = re.compile(r"[0-9]{1,10}\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}", re.ASCII)


# Dependencies that do no I/O are `async def`: FastAPI runs them on the event loop, where a plain
# `def` would cost a hop to the thread pool and back on every request (#13: the unlock's latency).
async def get_context(request: Request) -> CloudContext:
    context: CloudContext = request.app.state.context
    return context


ContextDep = Annotated[CloudContext, Depends(get_context)]


def get_db(context: ContextDep) -> Iterator[Session]:
    with context.factory() as db, db.begin():
        yield db


# scope="function": commit before the response leaves, so a client's next request sees it.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
# EventSource cannot send headers: the live page passes its token as ?token=.
TokenQuery = Annotated[str | None, Query(include_in_schema=False)]


def current_user(
    db: SessionDep, context: ContextDep, credentials: Credentials, token: TokenQuery = None
) -> User:
    return _caller(db, context, credentials.credentials if credentials else token)


def detached_user(context: ContextDep, credentials: Credentials, token: TokenQuery = None) -> User:
    """The caller, read in a short transaction of its own: for endpoints that must not hold the
    request's transaction open while they work (a stream; on SQLite every transaction is a writer)."""
    with context.factory() as db:
        user = _caller(db, context, credentials.credentials if credentials else token)
        db.expunge(user)
    return user


async def caller_id(context: ContextDep, credentials: Credentials, token: TokenQuery = None) -> int:
    """The caller's id from the token alone, on the event loop (no I/O): for a use case that reads the
    account in its own transaction (auth.account), one round trip less where somebody waits (#13)."""
    return _verified(context, credentials.credentials if credentials else token)


def _caller(db: Session, context: CloudContext, raw: str | None) -> User:
    return account(db, _verified(context, raw))


def _verified(context: CloudContext, raw: str | None) -> int:
    if not raw:
        raise Unauthorized("sign in first", code="sign_in")
    if not TOKEN_SHAPE.fullmatch(raw):  # garbage never reaches the parser: any of it is a 401
        raise Unauthorized("malformed token", code="token_invalid")
    return context.tokens.user_id(raw)


CurrentUser = Annotated[User, Depends(current_user)]
DetachedUser = Annotated[User, Depends(detached_user)]
CallerId = Annotated[int, Depends(caller_id)]


async def known_query_only(request: Request) -> None:
    """An API route answers 422 to a query parameter it does not take (a typo is an error, not ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        problems = [
            {"type": "extra_forbidden", "loc": ("query", n), "msg": "unknown query parameter"}
            for n in unknown
        ]
        raise RequestValidationError(problems)


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
