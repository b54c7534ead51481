"""``hookwire worker``: a process that only delivers, stopped gracefully by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import signal

from hookwire.config import Settings
from hookwire.delivery.worker import Worker


async def run_worker_process(settings: Settings) -> None:
    """Migrate, then deliver until SIGTERM/SIGINT; in-flight requests get the shutdown grace.

    Any number of these may run against one PostgreSQL database.
    """
    from hookwire.app import open_storage  # app imports this package: import late
    from hookwire.migrate import migrate

    storage = open_storage(settings)
    try:
        await migrate(storage.engine, storage.cipher)
        # Everything loaded so far lives as long as the process: moving it out
        # of the collector's sight makes each full collection (several per
        # thousand deliveries) scan only what delivery itself allocates.
        gc.freeze()
        worker = Worker(storage, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        print(f"hookwire worker {worker.worker_id} is delivering", flush=True)
        await worker.run()
        print(f"hookwire worker {worker.worker_id} stopped", flush=True)
    finally:
        await storage.close()
