"""How alerts are raised and how the delivery job retries, as frozen records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryConfig:
    every: float = 15.0
    max_attempts: int = 8
    backoff_base: float = 30.0
    backoff_max: float = 6 * 3600.0


@dataclass(frozen=True)
class AlertsConfig:
    # Alerts are raised only for articles published within this many seconds before they are
    # stored (None: any age). An archive import or a feed re-listing old items does not flood
    # the channels; what was held back is recorded (alert_suppressions).
    window: float | None = 3 * 86400.0


# No window: every article's alerts are raised whatever its age. What matching alone gets by
# default (``marsad match``, a backtest, tests); the daemon and ``marsad import`` pass the config's.
ANY_AGE = AlertsConfig(window=None)
