"""The app can be started again after it stopped (a reload, a test client per test)."""

from __future__ import annotations

import httpx

from hookwire.app import create_app
from hookwire.config import Settings


async def test_a_restarted_app_opens_a_fresh_storage_and_closes_it(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"run_worker": False}))
    opened = []
    for _ in range(2):
        async with app.router.lifespan_context(app):
            opened.append(app.state.storage)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/readyz")).json() == {"status": "ready"}
        # Closed with the app, so nothing of it outlives the stop.
        assert app.state.storage is None
    assert opened[0] is not opened[1]
