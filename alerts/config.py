"""How the delivery job retries, as a frozen record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryConfig:
    every: float = 15.0
    max_attempts: int = 8
    backoff_base: float = 30.0
    backoff_max: float = 6 * 3600.0
