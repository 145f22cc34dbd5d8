"""The try-it page at `/`: one self-contained HTML file (no build step, no external assets),
calling `/v1/models` and `/v1/classify` from the browser."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web


@cache
def page_html() -> str:
    return (resources.files("intent_server.http") / "static" / "index.html").read_text("utf-8")


async def try_it_page(request: web.Request) -> web.Response:
    return web.Response(
        text=page_html(),
        content_type="text/html",
        headers={
            # Everything is inline; nothing may be loaded from elsewhere.
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; connect-src 'self'",
            "Cache-Control": "no-cache",
        },
    )
