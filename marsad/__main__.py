"""``python -m marsad``: the same as the ``marsad`` command."""

from __future__ import annotations

from marsad.cli import main

main()
