"""Arabic text functions shared by storage, matching and copy detection.

This package imports nothing else of marsad's, so every other package may use it.
"""

from marsad.arabic.normalize import normalize, normalize_keep_ta_marbuta

__all__ = ["normalize", "normalize_keep_ta_marbuta"]
