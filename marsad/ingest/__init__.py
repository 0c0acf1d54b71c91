"""The ingest path: the one way every article — crawled or imported — enters the store.

normalise → dedup → store → match → alert, for one article at a time (:func:`ingest_article`):
prepare it (:mod:`~marsad.ingest.prepare`, no store needed), read what the store knows of it
(:mod:`~marsad.ingest.lookup`), plan what to write (:mod:`~marsad.ingest.plan`, pure) and write
the plan (:mod:`~marsad.ingest.write`), all in one transaction. ``marsad import`` feeds it JSON
lines (:mod:`marsad.ingest.jsonl`), preparing articles ahead in worker processes
(:mod:`marsad.ingest.ahead`).
"""

from __future__ import annotations

from marsad.ingest.article import IngestResult, PreparedArticle, ingest_article, prepare_article

__all__ = ["IngestResult", "PreparedArticle", "ingest_article", "prepare_article"]
