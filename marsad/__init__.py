"""marsad (مرصد): watches Arabic news feeds, stores and de-duplicates articles, and alerts on
Arabic-aware watch rules.

The one installed import package. The owner's rooms stay at the top of the repository
(``crawler/``, ``scheduler/``, ``storage/``, ``alerts/``); ``marsad/`` holds links to them, so
Python, setuptools, mypy and Scrapy all see them as ``marsad.crawler`` and so on, with no import
hook or path mapping to keep in step. See "How it is built" in the README.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("marsad")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
