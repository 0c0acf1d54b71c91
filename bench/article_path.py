"""How many of marsad's files one article's ingest walks through, and how often it returns to
a file it already left (reads, pure work and writes interleaved show as many returns).

``python bench/article_path.py``: ingests an original, then a copy of it that matches a rule
(dedup, story join, matching, snippets, alert payload, outbox), and traces the copy's walk.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import marsad
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle

ROOT = Path(marsad.__file__).resolve().parents[1]
ROOMS = {"marsad", "crawler", "scheduler", "storage", "alerts"}
TEXT = (
    "أعلن التحالف الدولي بدء الانسحاب من قاعدة عين الأسد الجوية غرب العراق، وقال متحدث باسمه "
    "إن القوات ستغادر القاعدة خلال أسابيع بعد تسليمها إلى القوات العراقية، في خطوة تأتي ضمن "
    "اتفاق بين بغداد وواشنطن على إنهاء مهمة التحالف العسكرية وتحويلها إلى علاقة أمنية ثنائية."
)


def article(url: str, source: str) -> NewArticle:
    return NewArticle(url=url, canonical_url=url, source=source, title="انسحاب", text=TEXT)


def main() -> None:
    db = open_store(":memory:")
    rules = compile_rules((Rule("pullout", ("انسحاب",), ("ops",)),))
    ingest_article(db, article("https://a.example/1", "a"), rules)
    walk: list[str] = []

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_file() and path.is_relative_to(ROOT) and path.parts[len(ROOT.parts)] in ROOMS:
            name = str(path.relative_to(ROOT))
            if not walk or walk[-1] != name:
                walk.append(name)

    copy = article("https://b.example/2", "b")
    sys.setprofile(tracer)
    try:
        result = ingest_article(db, copy, rules)
    finally:
        sys.setprofile(None)
    assert result.status == "copy", result
    returns = sum(1 for i, name in enumerate(walk) if name in walk[:i])
    print(f"files: {len(set(walk))}, steps: {len(walk)}, returns to a file already left: {returns}")
    for name in dict.fromkeys(walk):
        print(f"  {name}")


if __name__ == "__main__":
    main()
