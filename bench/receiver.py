"""A minimal webhook receiver for benchmarks, run in its own process.

It answers 200 to every POST and counts requests (GET /stats), so the
sender's process is the only one measured: ``python -m bench.receiver PORT``.
"""

from __future__ import annotations

import sys

from aiohttp import web


def make_app() -> web.Application:
    count = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"received": count})

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    port = int(sys.argv[1])
    web.run_app(make_app(), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
