"""The worker's outcomes show in the Prometheus counters."""

from __future__ import annotations

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.metrics import Metrics
from hookwire.storage import Storage
from tests.receivers import Receiver, make_webhook, ok, quick, send_event


async def test_attempts_are_counted_by_outcome(storage: Storage, settings: Settings) -> None:
    metrics = Metrics()
    async with Receiver() as receiver:
        receiver.answer(ok(503))  # one retry, then success
        await make_webhook(storage, receiver.url)
        await send_event(storage)
        async with Worker(storage, quick(settings), metrics=metrics) as worker:
            await worker.run_until_idle()

    def sample(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "hookwire_delivery_attempts_total", {"outcome": outcome}
        )

    assert sample("retry") == 1.0
    assert sample("succeeded") == 1.0
    count = metrics.registry.get_sample_value("hookwire_delivery_attempt_seconds_count")
    assert count == 2.0
