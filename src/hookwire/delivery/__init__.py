"""The delivery worker: claims due deliveries, sends them, records every attempt."""

from hookwire.delivery.worker import Worker, new_worker_id

__all__ = ["Worker", "new_worker_id"]
