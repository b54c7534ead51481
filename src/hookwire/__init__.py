"""hookwire: self-hosted webhook delivery with signed POSTs, retries and event logs."""

__version__ = "0.1.0"
