"""Forms of an Arabic word, from closed sets of affixes and a lexicon of cores.

A keyword in its dictionary form becomes a few *cores* (the keyword itself; for masdars of the
derived verb forms VII, VIII, X, III and VI also the past stem, the imperfect stem and the
participle), each with the affixes valid for its kind. A word of a text is analysed by trying
every split into (proclitics, core, suffixes) from the closed sets below and looking the core up
in a hash map, so the cost per word does not grow with the number of keywords.

Deliberately *not* done: forms II and IV (unvocalised, تفعيل/إفعال collide with form I verbs and
common nouns), root extraction (it finds سحب in انسحاب), and bare imperfect stems (نسحب "we
pull" is not ننسحب "we withdraw"): an imperfect core must carry its person prefix ي ت ن ا.

All strings here are match keys (see :func:`arabic.tokens.match_key`): ة kept apart from ه.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import product
from operator import itemgetter
from typing import Generic, TypeVar

T = TypeVar("T")

ARTICLE = "ال"
_ENCLITICS = ("ه", "ها", "هم", "هما", "هن", "ك", "كما", "كم", "كن", "ي", "نا")
# On verbs the first person object is ني, not ي.
_OBJECTS = ("ه", "ها", "هم", "هما", "هن", "ك", "كما", "كم", "كن", "ني", "نا")


def _noun_prefixes(*, article: bool | None) -> frozenset[str]:
    """و/ف, then ب/ك/ل, then (optionally) ال, with ل + ال written لل.

    ``article``: True = must carry ال, False = must not, None = either.
    """
    out: set[str] = set()
    for conj, prep in product(("", "و", "ف"), ("", "ب", "ك", "ل")):
        if article is not True:
            out.add(conj + prep)
        if article is not False:
            out.add(conj + ("لل" if prep == "ل" else prep + ARTICLE))
    return frozenset(out)


_NOUN_P = _noun_prefixes(article=None)
_BARE_P = _noun_prefixes(article=False)
_DEF_P = _noun_prefixes(article=True)
_PAST_P = frozenset({"", "و", "ف"})
# Conjunction, then future س or the ل of command/purpose, then the person prefix.
_IMPERFECT_P = frozenset(
    c + m + person for c, m, person in product(("", "و", "ف"), ("", "س", "ل"), ("ي", "ت", "ن", "ا"))
)

_NOUN_S = frozenset({"", "ا", "ات", "ان", "ين", "ون", *_ENCLITICS, *("ات" + e for e in _ENCLITICS)})
_TA_S = frozenset(
    {"ة", "ات", "تان", "تين", *("ت" + e for e in _ENCLITICS), *("ات" + e for e in _ENCLITICS)}
)
# Adjective-like words (nisba, participles): gender and number, no possessive pronouns.
_ADJ_S = frozenset({"", "ا", "ة", "ون", "ين", "ات", "ان", "تان", "تين", "و", "ي"})
_PLURAL_S = frozenset({"ات", *("ات" + e for e in _ENCLITICS)})
_SUBJECTS = ("", "ت", "ا", "وا", "تا", "ن", "نا", "تم", "تما", "تن")
_PAST_S = frozenset(
    {*_SUBJECTS, *(b + o for b in ("", "ت", "ا", "تا", "نا", "ن", "و", "تمو") for o in _OBJECTS)}
)
_IMPERFECT_S = frozenset(
    {
        *("", "ون", "ان", "ين", "ن", "وا", "ا"),
        *(b + o for b in ("", "ون", "ان", "ين", "ن", "و", "ا") for o in _OBJECTS),
    }
)


def _is_definite(prefix: str) -> bool:
    return prefix.endswith(ARTICLE) or prefix.endswith("لل")


@dataclass(frozen=True)
class Kind:
    """The affixes a core of one kind accepts.

    ``definite_only``: suffixes accepted only after the article. It is how ه stands in for ة
    (القياره): after ال the ه cannot be a possessive pronoun, so it can only be a misspelt ة,
    while bare مجموعه ("his total") stays apart from مجموعة ("group").
    """

    name: str
    prefixes: frozenset[str]
    suffixes: frozenset[str]
    definite_only: frozenset[str] = frozenset()
    pairs: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)
    # The suffixes of the pairs other than ("", ""): the bare core needs no split to be found.
    affixed_suffixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = set()
        for p in self.prefixes:
            for s in self.suffixes | self.definite_only:
                # A definite noun takes no possessive pronoun (الانسحابها is not a word).
                if _is_definite(p) and s in _POSSESSIVE_SUFFIXES and s not in self.definite_only:
                    continue
                if s in self.definite_only and s not in self.suffixes and not _is_definite(p):
                    continue
                pairs.add((p, s))
        object.__setattr__(self, "pairs", frozenset(pairs))
        affixed = frozenset(s for p, s in pairs if p or s)
        object.__setattr__(self, "affixed_suffixes", affixed)


_POSSESSIVE_SUFFIXES = frozenset(
    {*_ENCLITICS, *("ات" + e for e in _ENCLITICS), *("ت" + e for e in _ENCLITICS)}
)

EXACT = Kind("exact", frozenset({""}), frozenset({""}))
NOUN = Kind("noun", _NOUN_P, _NOUN_S)
# Two-letter words: clitics in front only, a suffix would make a different word too often.
SHORT = Kind("short", _NOUN_P, frozenset({""}))
TA_NOUN = Kind("ta-noun", _NOUN_P, _TA_S, definite_only=frozenset({"ه"}))
NISBA = Kind("nisba", _NOUN_P, _ADJ_S, definite_only=frozenset({"ه"}))
PLURAL = Kind("plural", _NOUN_P, _PLURAL_S)
PARTICIPLE = Kind("participle", _NOUN_P, _ADJ_S, definite_only=frozenset({"ه"}))
# Form III participles (مقاوم) double as lexicalised nouns; the feminine is the masdar itself.
PARTICIPLE_III = Kind("participle-iii", _NOUN_P, frozenset({"", "ون", "ين", "و", "ي", "ان"}))
PAST = Kind("past", _PAST_P, _PAST_S)
# Form III past stems (طالب, سابق) are also form I participles, "student", "former": only a
# subject or object suffix makes them verbs.
PAST_MARKED = Kind("past-marked", _PAST_P, _PAST_S - {"", "ا"})
IMPERFECT = Kind("imperfect", _IMPERFECT_P, _IMPERFECT_S)
FORM = Kind("form", _NOUN_P | _PAST_P, _NOUN_S | _PAST_S)
NAME = Kind("name", _DEF_P, frozenset({""}))
NAME_TA = Kind("name-ta", _DEF_P, frozenset({"ة"}), definite_only=frozenset({"ه"}))
# Words of a phrase: clitics only in front of the first word, nothing after any word.
HEAD = Kind("phrase-head", _BARE_P, frozenset({""}))
HEAD_TA = Kind("phrase-head-ta", _BARE_P, frozenset({"ة", "ه"}))
TAIL = Kind("phrase-word", frozenset({""}), frozenset({""}))
TAIL_TA = Kind("phrase-word-ta", frozenset({""}), frozenset({"ة", "ه"}))

KINDS = (
    EXACT,
    NOUN,
    SHORT,
    TA_NOUN,
    NISBA,
    PLURAL,
    PARTICIPLE,
    PARTICIPLE_III,
    PAST,
    PAST_MARKED,
    IMPERFECT,
    FORM,
    NAME,
    NAME_TA,
    HEAD,
    HEAD_TA,
    TAIL,
    TAIL_TA,
)
ALL_PREFIXES = frozenset(p for k in KINDS for p in k.prefixes)
ALL_SUFFIXES = frozenset(s for k in KINDS for s in k.suffixes | k.definite_only)
_MAX_PREFIX = max(map(len, ALL_PREFIXES))
_MAX_SUFFIX = max(map(len, ALL_SUFFIXES))
# Every beginning of a prefix (وبا of وبال): once a word's first letters are none of these, no
# longer prefix can be found in it.
_PREFIX_STARTS = frozenset(p[:i] for p in ALL_PREFIXES for i in range(len(p) + 1))
# Letters of a core (with its suffix) that the pre-filter compares: four, because the heads
# of derived forms are few (است، ان، ا_ت) and three let most words of a text through.
_HEAD = 4

# Participles of derived forms that the language uses as nouns of another meaning: deriving
# them would make استقبال ("reception") match المستقبل ("the future").
_LEXICALISED_PARTICIPLES = frozenset(
    {
        "مستقبل",  # future
        "مجتمع",  # society
        "منتخب",  # national team
        "مستشفي",  # hospital
        "مستودع",  # warehouse
        "منتجع",  # resort
        "ملتقي",  # forum
        "منتدي",  # forum
        "مستوي",  # level
        "مختار",  # village headman
        "معاهد",  # institutes
    }
)


@dataclass(frozen=True)
class Core:
    """One stem of a keyword and the affixes it accepts."""

    text: str
    kind: Kind


def word_cores(key: str, *, exact: bool = False) -> tuple[Core, ...]:
    """The cores of a single-word keyword (given as a match key) in the default mode."""
    if exact or not _is_arabic(key):
        return (Core(key, EXACT),)
    if len(key) <= 2:
        return (Core(key, SHORT),)
    if key.startswith(ARTICLE) and len(key) > 4:
        bare = key[2:]
        if _derived_masdar_cores(bare.removesuffix("ة"), had_ta=bare.endswith("ة")):
            # الانسحاب is the common noun انسحاب written with its article.
            return word_cores(bare)
        # Otherwise a keyword written with ال is a name (القيارة, القائم): the article stays,
        # so «قائم» ("standing") is not «القائم» (the town).
        if bare.endswith("ة"):
            return (Core(bare[:-1], NAME_TA),)
        return (Core(bare, NAME),)
    if key.endswith("ة"):
        stem = key[:-1]
        return (Core(stem, TA_NOUN), *_derived_masdar_cores(stem, had_ta=True))
    if key.endswith("ات") and len(key) >= 6:
        stem = key[:-2]
        # انتخابات, مفاوضات: the plural of a masdar (with or without ة); its singular and its
        # verbs are the same word.
        derived = _derived_masdar_cores(stem, had_ta=False)
        singular = Core(stem, NOUN)
        if not derived:
            derived = _derived_masdar_cores(stem, had_ta=True)
            singular = Core(stem, TA_NOUN)
        return (Core(stem, PLURAL), *((singular, *derived) if derived else ()))
    if key.endswith("ي") and len(key) >= 4:
        return (Core(key, NISBA),)
    return (Core(key, NOUN), *_derived_masdar_cores(key, had_ta=False))


def form_cores(key: str) -> tuple[Core, ...]:
    """Cores of a word a rule lists under ``forms`` (broken plurals, form I verbs).

    It takes noun clitics and verb suffixes; written as an imperfect with ي (يهاجم), its stem
    also takes the other person prefixes (تهاجم, نهاجم, سيهاجمون).
    """
    if not _is_arabic(key) or len(key) <= 2:
        return (Core(key, EXACT),)
    cores = [Core(key, FORM)]
    if key.startswith("ي") and len(key) >= 4:
        cores.append(Core(key[1:], IMPERFECT))
    if key.endswith("ة"):
        cores.append(Core(key[:-1], TA_NOUN))
    return tuple(cores)


def phrase_cores(keys: Iterable[str], *, exact: bool = False) -> tuple[tuple[Core, ...], ...]:
    """Cores for each word of a multi-word keyword: consecutive words, clitics in front of the
    first word only, and ة or ه at the end of any Arabic word (within a name the ه cannot be a
    pronoun)."""
    out: list[tuple[Core, ...]] = []
    for i, key in enumerate(keys):
        if exact or not _is_arabic(key):
            out.append((Core(key, EXACT),))
            continue
        head = i == 0
        if head and key.startswith(ARTICLE) and len(key) > 3:
            bare = key[2:]
            ta = bare.endswith("ة")
            out.append((Core(bare[:-1], NAME_TA) if ta else Core(bare, NAME),))
        elif key.endswith("ة") and len(key) > 2:
            out.append((Core(key[:-1], HEAD_TA if head else TAIL_TA),))
        else:
            out.append((Core(key, HEAD if head and len(key) > 1 else TAIL),))
    return tuple(out)


def _derived_masdar_cores(key: str, *, had_ta: bool) -> tuple[Core, ...]:
    """Past stem, imperfect stem and participle of a masdar of forms VII, VIII, X, III or VI.

    ``key`` is the masdar without a final ة (``had_ta`` says whether it had one).
    """
    n = len(key)
    past: str
    stem: str
    participles: tuple[str, ...]
    marked = False
    participle_kind = PARTICIPLE
    if had_ta and n == 6 and key.startswith("است") and key[4] == "ا":
        # Hollow form X: استقالة → استقال، يستقيل، مستقيل (not استقل "became independent").
        c1, c3 = key[3], key[5]
        past, stem = "است" + c1 + "ا" + c3, "ست" + c1 + "ي" + c3
        participles = ("م" + stem,)
    elif n >= 5 and key[0] == "ا" and key[-2] == "ا" and _is_vii_viii_x(key[1:-2]):
        body, last = key[1:-2], key[-1]
        if last == "ء":
            # Weak final radical: اعتداء → اعتدى، يعتدي، المعتدي.
            stem = body + "ي"
        elif body[-1] == last:
            # Doubled root: احتلال → احتل، يحتل، محتل.
            stem = body
        elif len(body) == 3 and body[-1] in "يو":
            # Hollow: اختيار → اختار، يختار، مختار.
            stem = body[:-1] + "ا" + last
        else:
            stem = body + last
        past = "ا" + stem
        participles = ("م" + stem,)
    elif had_ta and n == 5 and key[0] == "م" and key[2] == "ا" and key[4] not in "اي":
        # Form III مفاعلة: مواجهة → واجه، يواجه، مواجه.
        past = stem = key[1:]
        participles = (key,)
        marked = True
        participle_kind = PARTICIPLE_III
    elif not had_ta and n == 5 and key[0] == "ت" and key[2] == "ا" and key[4] not in "اي":
        # Form VI تفاعل: the masdar is also the past stem and, after the person prefix, the
        # imperfect stem (تبادل → تبادلوا، يتبادل، متبادل).
        past = stem = key
        participles = ("م" + key,)
    else:
        return ()
    cores = [
        Core(past, PAST_MARKED if marked else PAST),
        Core(stem, IMPERFECT),
        *(Core(p, participle_kind) for p in participles if p not in _LEXICALISED_PARTICIPLES),
    ]
    return tuple(cores)


def _is_vii_viii_x(body: str) -> bool:
    """The letters between the leading ا and the ا before the last radical of انفعال,
    افتعال (ت possibly assimilated to ط or د, or doubled: اتصال) or استفعال."""
    if len(body) == 4:
        return body.startswith("ست")
    if len(body) == 3:
        return body[0] == "ن" or body[1] in "تطد"
    if len(body) == 2:
        return body[0] == "ت"
    return False


def _is_arabic(key: str) -> bool:
    return any("\u0621" <= c <= "\u06ff" for c in key)


class Lexicon(Generic[T]):
    """Cores to payloads; :meth:`analyse` returns the payloads a written word carries."""

    def __init__(self) -> None:
        self._cores: dict[str, list[tuple[Kind, T]]] = {}
        # How every affixed form of a core begins once its prefix is cut off: the first
        # _HEAD letters of core + suffix. Most words of a text begin no such way after any
        # prefix, and this rejects them before any split into core and suffix is tried.
        self._heads: set[str] = set()

    def add(self, core: Core, payload: T) -> None:
        text, affixed = core.text, core.kind.affixed_suffixes
        if len(text) >= _HEAD:  # then no suffix reaches the head
            if affixed:
                self._heads.add(text[:_HEAD])
        else:
            self._heads.update((text + s)[:_HEAD] for s in affixed)
        entries = self._cores.setdefault(text, [])
        if (core.kind, payload) not in entries:
            entries.append((core.kind, payload))

    def __len__(self) -> int:
        return len(self._cores)

    def possible(self, keys: list[str]) -> list[bool]:
        """For each key, False when :meth:`analyse` would certainly find nothing in it.

        The same test that :meth:`analyse` starts with, less exact (any first letters are
        taken for a prefix) but run over a whole batch in C, for a text's never-seen words.
        """
        in_heads = self._heads.__contains__
        checks = [map(self._cores.__contains__, keys)]
        checks.extend(
            map(in_heads, map(itemgetter(slice(plen, plen + _HEAD)), keys))
            for plen in range(_MAX_PREFIX + 1)
        )
        return list(map(any, zip(*checks, strict=True)))

    def analyse(self, key: str) -> list[T]:
        """Payloads of every core that ``key`` is an accepted form of, each once."""
        found: list[T] = []
        cores = self._cores
        whole = cores.get(key)
        if whole is not None:
            for kind, payload in whole:
                # Two kinds of one core (تبادل: noun and past stem) may both take no affix.
                if ("", "") in kind.pairs and payload not in found:
                    found.append(payload)
        n = len(key)
        heads = self._heads
        suffixes: list[tuple[int, str]] | None = None
        for plen in range(min(_MAX_PREFIX, n - 1) + 1):
            prefix = key[:plen]
            if prefix not in ALL_PREFIXES:
                if prefix in _PREFIX_STARTS:
                    continue
                break  # no longer prefix begins this way either
            if key[plen : plen + _HEAD] not in heads:
                continue
            if suffixes is None:
                suffixes = [
                    (n - slen, key[n - slen :])
                    for slen in range(min(_MAX_SUFFIX, n - 1) + 1)
                    if key[n - slen :] in ALL_SUFFIXES
                ]
            for cut, suffix in suffixes:
                if cut - plen < 1 or not (plen or suffix):
                    continue
                entries = cores.get(key[plen:cut])
                if entries is None:
                    continue
                for kind, payload in entries:
                    if (prefix, suffix) in kind.pairs and payload not in found:
                        found.append(payload)
        return found
