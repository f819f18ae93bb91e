"""Security headers on every response: a Content-Security-Policy that forbids inline script,
``nosniff``, no referrer and no framing.

The CSP is the last wall against stored XSS: even if a hostile value slipped past id
checks and the page's escaping, a browser would not run an inline ``<script>`` or an
``onerror=`` handler, and the page cannot be framed to trick an inspector into clicks.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

# MapLibre runs its workers from blob: URLs and draws images from blob:/data: URLs; inline
# styles are allowed because MapLibre and the page position elements with them (styles
# cannot run script). Scripts come only from this origin's files.
_PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: blob:{tiles}; connect-src 'self'{tiles}; worker-src 'self' blob:; "
                "child-src blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# The optional Swagger UI (``api_docs``) loads its scripts from a CDN and starts with an inline script.
_DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
                "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def tile_source(tile_url: str | None) -> str:
    """The CSP source of a raster tile URL template (its origin), or '' without one."""
    if not tile_url:
        return ""
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"tile_url must be an http(s) URL template, got {tile_url!r}")
    host = parts.netloc
    if "{" in host:  # a "{s}.tile.example.org" subdomain template
        host = "*." + host.split(".", 1)[1]
    return f" {parts.scheme}://{host}"


def security_headers(tile_url: str | None) -> dict[str, list[tuple[bytes, bytes]]]:
    """Headers for the page/API and for the docs pages (``{"page": …, "docs": …}``)."""
    common = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
              (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]
    page = _PAGE_POLICY.format(tiles=tile_source(tile_url)).encode()
    return {"page": [(b"content-security-policy", page), *common],
            "docs": [(b"content-security-policy", _DOCS_POLICY.encode()), *common]}


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response (replacing any the app set)."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None) -> None:
        self.app = app
        self.headers = security_headers(tile_url)
        self.names = {name for name, _ in self.headers["page"]}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers["docs" if scope["path"] in DOCS_PATHS else "page"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)
