"""Matching watch rules against an article's title and body.

Rules are compiled once into a :class:`RuleIndex`: every spelling of every keyword (its cores,
see :mod:`arabic.morphology`) goes into one hash map, so the cost of a word of text does not grow
with the number of rules. Each written word is analysed once and remembered, which is what makes
news text cheap: most of its words have been seen before.

Everything goes through :meth:`RuleIndex.match` (built by :func:`compile_rules`); a rule yields
matches only when its logic (any/all/none, threshold, near, fields) holds, because callers treat
any match of a rule as "the rule fired".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, count, product
from operator import itemgetter, not_
from typing import cast

from marsad.alerts.config import ANY_AGE, AlertsConfig
from marsad.alerts.rules import Keyword, Origin, Rule, Scope
from marsad.arabic.letters import LATIN_LETTER_NAMES
from marsad.arabic.morphology import (
    ALIAS,
    CORE,
    DESIGNATION,
    FORMS,
    LISTED,
    WRITTEN_FORMS,
    Core,
    Lexicon,
    form_cores,
    phrase_cores,
    word_cores,
)
from marsad.arabic.tokens import (
    alef_spelling,
    match_key,
    plain_keys,
    plain_words,
    token_pattern,
    token_spans,
)

SNIPPET_RADIUS = 80

# Between the words of a phrase or a designation (K-1, ك 1) only spaces, hyphens and invisible
# marks: a comma or a full stop ends the phrase.
_GAP = re.compile(
    r"[\s\-\u2010-\u2015\u00ad\u200b-\u200f\u2060\ufeff\u061c\u202a-\u202e\u2066-\u2069]*"
)
_MAX_DESIGNATION_LETTERS = 3
# A bound on remembered words, so a long-running daemon does not grow without end.
_CACHE_LIMIT = 400_000
_FIELD_ORDER = {"title": 0, "body": 1}
_FORM_RANK = {form: rank for rank, form in enumerate(FORMS)}


@dataclass(frozen=True)
class Match:
    """One hit of a rule's keyword: where it is, how it was written and which form of the
    keyword it is (``core``, ``plural``, ``past``… see :data:`arabic.morphology.FORMS`)."""

    rule: str
    keyword: str
    field: str
    start: int
    end: int
    surface: str
    form: str = CORE


@dataclass(frozen=True)
class KeywordHit:
    """One hit of a keyword in a field, whatever a rule makes of it: its character offsets,
    its word positions (``first`` to ``last``, for ``near``), how it was written and which
    form of the keyword it is."""

    keyword: Keyword
    field: str
    start: int
    end: int
    first: int
    last: int
    surface: str
    form: str = CORE


@dataclass(frozen=True)
class _Hit:
    keyword: int
    field: str
    first: int  # word positions, for `near`
    last: int
    start: int  # character offsets in the original field
    end: int
    form: str = CORE


@dataclass(frozen=True)
class Variant:
    """One way of writing a keyword: a sequence of words, each with its cores, and the form
    of the keyword it is."""

    form: str
    words: tuple[tuple[Core, ...], ...]


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    any_ids: tuple[int, ...]
    all_ids: tuple[int, ...]
    none_ids: tuple[int, ...]
    # None for a rule that takes articles from anywhere (most): no check on its hits.
    scope: Scope | None = None


class RuleIndex:
    """Rules compiled for matching; build once with :func:`compile_rules`, use per article.

    ``alerts`` is the policy for raising the alerts of what matched (``[alerts]`` of the
    config): it travels with the rules, so every ingest path that is handed the rules (the
    crawl's pipeline, ``marsad import``) applies the same one.
    """

    def __init__(self, rules: Iterable[Rule], alerts: AlertsConfig = ANY_AGE) -> None:
        self.rules = tuple(rules)
        self.alerts = alerts
        self._keywords: list[Keyword] = []
        keyword_ids: dict[Keyword, int] = {}
        self._rules: list[_CompiledRule] = []
        users: list[list[int]] = []

        def ids(group: Sequence[Keyword], rule_no: int) -> tuple[int, ...]:
            out = []
            for kw in group:
                if kw not in keyword_ids:
                    keyword_ids[kw] = len(self._keywords)
                    self._keywords.append(kw)
                    users.append([])
                users[keyword_ids[kw]].append(rule_no)
                out.append(keyword_ids[kw])
            return tuple(out)

        for number, rule in enumerate(self.rules):
            self._rules.append(
                _CompiledRule(
                    rule,
                    ids(rule.any_of, number),
                    ids(rule.all_of, number),
                    ids(rule.none_of, number),
                    rule.scope or None,
                )
            )
        self._users = tuple(tuple(sorted(set(u))) for u in users)
        # A variant is one way of writing a keyword: a sequence of words, each with its cores.
        self._variant_keyword: list[int] = []
        self._variant_length: list[int] = []
        self._variant_form: list[str] = []
        self._lexicon: Lexicon[tuple[int, int]] = Lexicon()
        for number, kw in enumerate(self._keywords):
            for found in keyword_variants(kw):
                variant = len(self._variant_keyword)
                self._variant_keyword.append(number)
                self._variant_length.append(len(found.words))
                self._variant_form.append(found.form)
                for position, cores in enumerate(found.words):
                    for core in cores:
                        self._lexicon.add(core, (variant, position))
        self._fields = frozenset(f for r in self.rules for f in r.fields)
        self._seen = _ChunkCache(self._lexicon)
        # Whether matching needs to know where an article comes from at all, and its feed
        # (its name costs a read).
        self.scoped = any(r.scope for r in self.rules)
        self.scoped_by_feed = any(r.scope.feeds for r in self.rules)
        # ... or its language, when it states none (a guess from its letters).
        self.scoped_by_language = any(r.scope.languages for r in self.rules)
        # The rules a story's growth may alert on (follow-ups, breaking): asked about only
        # when an article joins a story, and only if there are any.
        self.growing = tuple(r for r in self.rules if r.follow_up or r.breaking)

    @property
    def cached_chunks(self) -> int:
        """How many written chunks of text the index remembers (at most _CACHE_LIMIT, plus
        one text's)."""
        return len(self._seen)

    def match(self, title: str, text: str, origin: Origin | None = None) -> list[Match]:
        """Matches of every rule whose logic holds for this article, rule by rule, each rule's
        matches in order of field (title first) and position.

        ``origin`` is where the article comes from: a rule scoped to some feeds, sources or
        languages (:class:`~marsad.alerts.rules.Scope`) matches only articles from within its
        scope. Without an origin (a text tried out of any context) scopes are not checked."""
        hits: list[_Hit] = []
        for field, content in (("title", title), ("body", text)):
            if field in self._fields and content:
                hits.extend(self._find(field, content))
        if not hits:
            return []
        by_keyword: dict[int, list[_Hit]] = {}
        for hit in hits:
            by_keyword.setdefault(hit.keyword, []).append(hit)
        candidates = sorted({r for k in by_keyword for r in self._users[k]})
        found: list[Match] = []
        for number in candidates:
            compiled = self._rules[number]
            # The scope filters the few rules that had hits: unscoped rules pay one test.
            scope = compiled.scope
            if scope is not None and origin is not None and scope.excludes(origin):
                continue
            for hit in _fired(compiled, by_keyword):
                found.append(
                    Match(
                        rule=compiled.rule.name,
                        keyword=self._keywords[hit.keyword].text,
                        field=hit.field,
                        start=hit.start,
                        end=hit.end,
                        surface=field_text(title, text, hit.field)[hit.start : hit.end],
                        form=hit.form,
                    )
                )
        return found

    def hits(self, title: str, text: str) -> list[KeywordHit]:
        """Every hit of every keyword of the rules in the title and the body, whatever the
        rules' logic and fields say (for explaining why a rule did or did not fire), in order
        of field and position."""
        found: list[KeywordHit] = []
        for field, content in (("title", title), ("body", text)):
            if content:
                for hit in sorted(self._find(field, content), key=lambda h: (h.start, h.end)):
                    found.append(
                        KeywordHit(
                            keyword=self._keywords[hit.keyword],
                            field=field,
                            start=hit.start,
                            end=hit.end,
                            first=hit.first,
                            last=hit.last,
                            surface=content[hit.start : hit.end],
                            form=hit.form,
                        )
                    )
        return found

    def _find(self, field: str, content: str) -> list[_Hit]:
        # Split on single spaces (fast, and offsets stay recoverable: chunk i starts at the sum
        # of the earlier lengths plus i); each distinct chunk is tokenised and analysed once.
        chunks = content.split(" ")
        analysed = self._seen.analyse(chunks)
        hit_chunks = list(compress(count(), map(itemgetter(1), analysed)))
        if not hit_chunks:
            return []
        # Only words that are a form of some keyword matter, phrases included. Word and
        # character offsets are summed only up to the chunks that hit (few per article).
        words: dict[int, tuple[_Units, int, int]] = {}
        tokens_before = chars_before = previous = 0
        for i in hit_chunks:
            tokens_before += sum(map(itemgetter(0), analysed[previous:i]))
            chars_before += sum(map(len, chunks[previous:i]))
            previous = i
            offset = chars_before + i
            for local, rel_start, rel_end, units in analysed[i][1]:
                words[tokens_before + local] = (units, offset + rel_start, offset + rel_end)
        out: dict[tuple[int, int, int], _Hit] = {}
        for first, (units, start, _) in words.items():
            for variant, position in units:
                if position:
                    continue
                length = self._variant_length[variant]
                end = _phrase_end(words, content, variant, first, length)
                if end is None:
                    continue
                keyword = self._variant_keyword[variant]
                form = self._variant_form[variant]
                key = (keyword, start, end)
                # One written word may be several forms of a keyword: it counts as the
                # closest to the keyword as written (المسجد is the keyword, not a plural).
                seen = out.get(key)
                if seen is None or _FORM_RANK[form] < _FORM_RANK[seen.form]:
                    out[key] = _Hit(keyword, field, first, first + length - 1, start, end, form)
        return list(out.values())


_Units = tuple[tuple[int, int], ...]
_Analysed = tuple[int, tuple[tuple[int, int, int, _Units], ...]]


def _phrase_end(
    words: dict[int, tuple[_Units, int, int]], content: str, variant: int, first: int, length: int
) -> int | None:
    """Where a variant starting at word ``first`` ends, if its other words follow it."""
    end = words[first][2]
    for j in range(1, length):
        nxt = words.get(first + j)
        if nxt is None or (variant, j) not in nxt[0]:
            return None
        if not _GAP.fullmatch(content, end, nxt[1]):
            return None
        end = nxt[2]
    return end


# A chunk that is one word, of no keyword: shared, as most chunks are this.
_ONE_WORD: _Analysed = (1, ())


class _ChunkCache:
    """Space-free chunks of text → how many words each holds and, for each word that is a
    form of some keyword, its index and span in the chunk and its (variant, position) units.
    A text's never-seen chunks are analysed together on first sight; bounded so that a
    long-running daemon does not grow forever."""

    def __init__(self, lexicon: Lexicon[tuple[int, int]]) -> None:
        self._lexicon = lexicon
        self._known: dict[str, _Analysed] = {}

    def __len__(self) -> int:
        return len(self._known)

    def analyse(self, chunks: list[str]) -> list[_Analysed]:
        """What each of ``chunks`` holds, in order."""
        known = self._known
        found = list(map(known.get, chunks))
        if all(found):  # most texts repeat words seen before
            return cast("list[_Analysed]", found)
        fresh = self._analyse_new(list(dict.fromkeys(compress(chunks, map(not_, found)))))
        if len(known) + len(fresh) > _CACHE_LIMIT:
            known.clear()
        known.update(fresh)
        # What was known stays the default; only the fresh chunks are looked up again.
        return cast("list[_Analysed]", list(map(fresh.get, chunks, found)))

    def _analyse_new(self, chunks: list[str]) -> dict[str, _Analysed]:
        # Most chunks are one plain Arabic word, maybe with punctuation glued on: they are
        # keyed and pre-filtered as one batch; the lexicon analyses only the few left.
        lexicon = self._lexicon
        words = plain_words(chunks)
        keys = plain_keys(words)
        out: dict[str, _Analysed] = {}
        for chunk, word, key, possible in zip(
            chunks, words, keys, lexicon.possible(keys), strict=True
        ):
            if not word:
                out[chunk] = self._tokenised(chunk)
            elif not possible:
                out[chunk] = _ONE_WORD
            elif units := tuple(lexicon.analyse(key, alef_spelling(word))):
                start = chunk.index(word)
                out[chunk] = (1, ((0, start, start + len(word), units),))
            else:
                out[chunk] = _ONE_WORD
        return out

    def _tokenised(self, chunk: str) -> _Analysed:
        spans = token_spans(chunk)
        found = []
        for local, (written, start, end) in enumerate(spans):
            units = tuple(self._lexicon.analyse(match_key(written), alef_spelling(written)))
            if units:
                found.append((local, start, end, units))
        return len(spans), tuple(found)


def _fired(compiled: _CompiledRule, by_keyword: dict[int, list[_Hit]]) -> list[_Hit]:
    """The hits that make ``compiled`` fire, or none when its logic does not hold."""
    rule = compiled.rule
    fields = rule.fields

    def hits_of(ids: Sequence[int]) -> list[_Hit]:
        return [h for k in ids for h in by_keyword.get(k, ()) if h.field in fields]

    if hits_of(compiled.none_ids):
        return []
    wanted = hits_of((*compiled.any_ids, *compiled.all_ids))
    if not _satisfied(compiled, {h.keyword for h in wanted}):
        return []
    if rule.near is not None:
        wanted = _near_hits(compiled, wanted, rule.near)
    return sorted(wanted, key=lambda h: (_FIELD_ORDER[h.field], h.start, h.end))


def _satisfied(compiled: _CompiledRule, present: set[int]) -> bool:
    if not all(k in present for k in compiled.all_ids):
        return False
    if compiled.any_ids:
        return sum(k in present for k in compiled.any_ids) >= compiled.rule.threshold
    return True


def _near_hits(compiled: _CompiledRule, hits: list[_Hit], near: int) -> list[_Hit]:
    """Hits inside windows of one field where the rule holds with at most ``near`` words
    between the end of the first hit and the start of the last."""
    kept: set[_Hit] = set()
    for field in ("title", "body"):
        ordered = sorted((h for h in hits if h.field == field), key=lambda h: (h.first, h.last))
        counts: dict[int, int] = {}
        left = 0
        for right, hit in enumerate(ordered):
            counts[hit.keyword] = counts.get(hit.keyword, 0) + 1
            while hit.first - ordered[left].last - 1 > near:
                gone = ordered[left].keyword
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
                left += 1
            if _satisfied(compiled, set(counts)):
                kept.update(ordered[left : right + 1])
    return list(kept)


def keyword_variants(keyword: Keyword) -> list[Variant]:
    """Every way of writing ``keyword``: as a sequence of words, each word with its cores; a
    single word's cores in one variant per form (core, plural, past…), without the forms its
    ``none`` vetoes."""
    variants: list[Variant] = []
    vetoed = [match_key(w) for w in keyword.none]
    for text, form in ((keyword.text, CORE), *((a, ALIAS) for a in keyword.aliases)):
        for words, spelt in _spellings(text, keyword):
            if len(words) > 1:
                variants.append(Variant(DESIGNATION if spelt else form, words))
                continue
            by_form: dict[str, list[Core]] = {}
            for core in _without(words[0], vetoed):
                by_form.setdefault(form if core.form == CORE else core.form, []).append(core)
            variants.extend(Variant(f, (tuple(cores),)) for f, cores in by_form.items())
    if not keyword.exact:
        for written in keyword.forms:
            keys = [match_key(w) for w in token_pattern().findall(written)]
            if len(keys) == 1:
                cores = _without(form_cores(keys[0]), vetoed)
                if cores:
                    variants.append(Variant(LISTED, (cores,)))
            elif keys:
                variants.append(Variant(LISTED, phrase_cores(keys)))
    return variants


@dataclass(frozen=True)
class FormGroup:
    """The written forms of one core of a keyword, for people choosing what to veto.

    ``words`` are written as they are matched (a hamza on ؤ or ئ as ء, ى as ي); ``clitics``
    are what may stand in front of each of them ("" for nothing)."""

    form: str
    pattern: str
    core: str
    kind: str
    clitics: tuple[str, ...]
    words: tuple[str, ...]

    def written(self) -> list[str]:
        """Every written form: each word with each clitic in front."""
        return sorted({c + w for c in self.clitics for w in self.words})


def keyword_forms(keyword: Keyword) -> list[FormGroup]:
    """Every form ``keyword`` matches, core by core, in the order of :data:`FORMS`."""
    groups: list[FormGroup] = []
    for variant in keyword_variants(keyword):
        if len(variant.words) > 1:
            phrase = " ".join(cores[0].text for cores in variant.words)
            groups.append(FormGroup(variant.form, "", phrase, "phrase", ("",), (phrase,)))
            continue
        for core in variant.words[0]:
            clitics: set[str] = set()
            words: set[str] = set()
            # An imperfect's person prefix belongs to the word (ينسحب), the rest is a clitic.
            person = core.kind.name.startswith("imperfect")
            for prefix, suffix in core.pairs:
                inner = prefix[-1:] if person else ""
                clitics.add(prefix[: len(prefix) - len(inner)])
                words.add(inner + core.text + suffix)
            groups.append(
                FormGroup(
                    variant.form,
                    core.pattern,
                    core.text,
                    core.kind.name,
                    tuple(sorted(clitics, key=lambda c: (len(c), c))),
                    tuple(sorted(words, key=lambda w: (len(w), w))),
                )
            )
    groups.sort(key=lambda g: _FORM_RANK[g.form])
    return groups


def _without(cores: tuple[Core, ...], vetoed: Sequence[str]) -> tuple[Core, ...]:
    """``cores`` less the forms a keyword's ``none`` vetoes: a derived core written as a
    vetoed word goes whole (none = ["مقاتل"] drops مقاتل, مقاتلين…), any other vetoed word
    goes alone, with whatever clitics it takes in front."""
    if not vetoed:
        return cores
    kept = []
    for core in cores:
        if core.form not in WRITTEN_FORMS and core.text in vetoed:
            continue
        kept.append(core.without(vetoed))
    return tuple(kept)


def _spellings(text: str, keyword: Keyword) -> list[tuple[tuple[tuple[Core, ...], ...], bool]]:
    """The written variants of one spelling of ``keyword``, each saying whether it is an
    Arabic spelling of a Latin designation."""
    exact = keyword.exact
    written = token_pattern().findall(text)
    keys = [match_key(w) for w in written]
    if not keys:
        return []
    if len(keys) == 1:
        cores = word_cores(
            keys[0],
            exact=exact,
            verbs=keyword.verbs,
            plurals=keyword.plurals,
            spelled=alef_spelling(written[0]),
        )
        return [((cores,), False)]
    spellings = [(phrase_cores(keys, exact=exact), False)]
    if not exact:
        spellings.extend((phrase_cores(v, exact=True), True) for v in _designation_variants(keys))
    return spellings


def _designation_variants(keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Arabic spellings of a Latin designation with digits: k 1 → ك 1, كي 1, كاي 1."""
    letters = [k for k in keys if not k.isdigit()]
    if (
        not any(k.isdigit() for k in keys)
        or not letters
        or not all(k.isascii() and k.isalnum() for k in keys)
        or sum(len(k) for k in letters) > _MAX_DESIGNATION_LETTERS
    ):
        return []
    options: list[list[tuple[str, ...]]] = []
    for key in keys:
        if key.isdigit():
            options.append([(key,)])
        else:
            names = [LATIN_LETTER_NAMES.get(c) for c in key]
            if any(n is None for n in names):
                return []
            options.append(list(product(*(n for n in names if n is not None))))
    spelled = (tuple(match_key(w) for part in combo for w in part) for combo in product(*options))
    return list(dict.fromkeys(spelled))


def compile_rules(rules: Iterable[Rule], *, alerts: AlertsConfig = ANY_AGE) -> RuleIndex:
    """The rules compiled once, at the edge (the daemon's start, a CLI command), and passed down
    to every article's match: compiling is the expensive part, matching the cheap one.

    ``alerts`` (the config's ``[alerts]``) decides which planned alerts are raised
    (:func:`marsad.ingest.plan.plan_article`); by default all are."""
    return RuleIndex(rules, alerts)


def field_text(title: str, text: str, field: str) -> str:
    """The article text a match's ``field`` ("title" or "body") names: its offsets count in it."""
    return title if field == "title" else text


def snippet(text: str, start: int, end: int, radius: int = SNIPPET_RADIUS) -> str:
    """The text around a match, cut at word boundaries, with an ellipsis where it was cut."""
    left, right = _window(text, start, end, radius)
    piece = " ".join(text[left:right].split())
    return ("…" if left > 0 else "") + piece + ("…" if right < len(text) else "")


def marked_snippet(
    text: str, start: int, end: int, *, mark: tuple[str, str] = ("[", "]"), radius: int = 80
) -> str:
    """:func:`snippet` with the match itself between the two ``mark`` strings."""
    left, right = _window(text, start, end, radius)
    before = " ".join(text[left:start].split())
    after = " ".join(text[end:right].split())
    gap_before = " " if before and text[start - 1 : start].isspace() else ""
    gap_after = " " if after and text[end : end + 1].isspace() else ""
    return (
        ("…" if left > 0 else "")
        + before
        + gap_before
        + mark[0]
        + text[start:end]
        + mark[1]
        + gap_after
        + after
        + ("…" if right < len(text) else "")
    )


def _window(text: str, start: int, end: int, radius: int) -> tuple[int, int]:
    left = max(0, start - radius)
    right = min(len(text), end + radius)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    return left, right
