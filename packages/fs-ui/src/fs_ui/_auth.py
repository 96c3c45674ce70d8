"""The secret token: every request carries it as ``?token=``, the ``fs_ui_token`` cookie or ``X-FS-Token``."""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

__all__ = ["COOKIE", "HEADER", "TokenMiddleware"]

COOKIE = "fs_ui_token"
HEADER = "x-fs-token"


class TokenMiddleware:
    """Pure ASGI middleware: 403 without the token; a page visit with ``?token=`` also sets the cookie."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _given(self, scope: dict[str, Any]) -> tuple[bytes | None, bool]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0].encode(), True
        for key, value in scope.get("headers", []):
            if key == HEADER.encode():
                return value, False
            if key == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE)
                if morsel is not None:
                    return morsel.value.encode(), False
        return None, False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given, in_query = self._given(scope)
        if given is None or not hmac.compare_digest(given, self.token):
            body = b"403: this fs ui session needs its token (open the URL `fs ui` printed)\n"
            headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if not in_query:
            await self.app(scope, receive, send)
            return
        cookie = f"{COOKIE}={self.token.decode()}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
