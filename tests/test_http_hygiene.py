"""Small protections: private SQLite files, nosniff everywhere, docs without a CDN."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hookwire.storage import create_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_database_and_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "hookwire.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert [_mode(f) for f in files] == [0o600] * 3
    finally:
        await engine.dispose()


async def test_an_existing_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "hookwire.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert _mode(path) == 0o600


@pytest.mark.parametrize(
    "path", ["/v1/tenants", "/v1/nowhere", "/healthz", "/openapi.json", "/static/app.css", "/docs"]
)
async def test_every_answer_says_nosniff(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_load_their_assets_from_hookwire(api: httpx.AsyncClient, page: str) -> None:
    response = await api.get(page)
    assert response.status_code == 200
    html = response.text
    # Nothing from another origin: no absolute URL in a src or href.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), html
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        served = await api.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["X-Content-Type-Options"] == "nosniff"
