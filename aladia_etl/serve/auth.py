"""The health API's token: with one set, every request but `GET /health` (a load balancer's liveness check, which
then answers only the states, without any component's details) must carry it — as `Authorization: Bearer <token>`
(Prometheus' `authorization` setting, curl), or as the password of HTTP basic auth (what a browser prompts for, so
the dashboard opens in one; the user name is ignored)."""

from __future__ import annotations

import base64
import binascii
import hmac

OPEN_PATHS = frozenset({"/health"})
CHALLENGE = 'Bearer realm="aladia", Basic realm="aladia"'


def presented(header: str | None) -> str | None:
    """The token an Authorization header carries, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def authenticated(header: str | None, token: str | None) -> bool:
    """Whether the request carries the token (always, when there is none)."""
    if token is None:
        return True
    given = presented(header)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def authorized(path: str, header: str | None, token: str | None) -> bool:
    return path in OPEN_PATHS or authenticated(header, token)


def install(app, token: str | None) -> None:
    """Require `token` on `app` (a FastAPI app); no token: nothing changes."""
    if token is None:
        return
    from fastapi.responses import JSONResponse

    @app.middleware("http")
    async def require_token(request, call_next):
        if authorized(request.url.path, request.headers.get("authorization"), token):
            return await call_next(request)
        return JSONResponse(
            {"detail": "this endpoint needs the token: Authorization: Bearer <ALADIA_SERVE__TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": CHALLENGE},
        )
