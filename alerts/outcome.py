"""What one delivery attempt came to: the common answer of every channel's sender."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """``ok`` means delivered; otherwise ``permanent`` says whether trying again can help.

    ``retry_after`` is the receiver's own "not before" (seconds from the attempt), which the
    delivery job honours over its backoff.
    """

    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None

    @classmethod
    def sent(cls, status_code: int | None = None, note: str | None = None) -> Outcome:
        return cls(ok=True, status_code=status_code, error=note)

    @classmethod
    def retry(
        cls, error: str, status_code: int | None = None, retry_after: float | None = None
    ) -> Outcome:
        return cls(ok=False, status_code=status_code, error=error, retry_after=retry_after)

    @classmethod
    def failed(cls, error: str, status_code: int | None = None) -> Outcome:
        """A failure no retry will fix (rejected payload, unknown recipient, bad config)."""
        return cls(ok=False, status_code=status_code, error=error, permanent=True)
