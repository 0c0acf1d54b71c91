"""Forms of an Arabic word, from closed sets of affixes and a lexicon of cores.

A keyword in its dictionary form becomes a few *cores*, each with the affixes valid for its
kind and the *form* (class) it stands for: the keyword itself (``core``: clitics, article,
pronoun suffixes, sound plurals), its broken plurals (``plural``), and for a masdar the past,
the imperfect and the participles of its verb (``past``, ``present``, ``participle``); a name
with the article and a nisba ending also takes the nisba's endings (``nisba``). A word of a
text is analysed by trying every split into (proclitics, core, suffixes) from the closed sets
below and looking the core up in a hash map, so the cost per word does not grow with the
number of keywords.

What is derived by default is what real news text showed to be safe:

- the verbs of derived-form masdars (VII, VIII, X, III, VI and II) and of form I masdars of the
  pattern فعول (نزوح → نزح، ينزحون، النازحين);
- broken plurals of four- and five-letter nouns by template (مسجد → مساجد, وزير → وزراء,
  صاروخ → صواريخ) and the plurals listed in :mod:`arabic.wordlists` (مدينة → مدن);
- a nisba name's endings (الحوثي → الحوثيين، حوثية).

Three-letter keywords are as often names or nouns of another sense as masdars, so their verbs
and template plurals (سجن → سجنوا، يسجن، مسجون; سجون) are derived only when a rule asks
(``verbs = true``, ``plurals = true``); their default forms are the word with its clitics and
pronoun suffixes, no dual or -ا, -ي, -ان endings (عدن is not عدنان). Forms that collide with
common words are left out by kind (a bare form II past: فجر "dawn"; an imperfect with ت and
no ending: تقدم "progress") or by the word lists (مسلم, مؤخرا).

Never derived: root extraction (it finds سحب in انسحاب), bare imperfect stems (نسحب "we pull"
is not ننسحب "we withdraw": an imperfect core carries its person prefix), form IV.

All strings here are match keys (see :func:`arabic.tokens.match_key`): ة kept apart from ه.
Keys fold أ إ آ into ا; where a keyword writes a hamza or a madda on an alef, its own cores keep
that spelling (:attr:`Core.alefs`), and a word that writes the other one there is another word
(مآرب "aims" is not مأرب, the town; see :func:`contradicts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import product
from operator import itemgetter
from typing import Generic, TypeVar

from marsad.arabic.templates import broken_plurals, form_i_root, form_ii_root
from marsad.arabic.wordlists import (
    BARE_HOMOGRAPHS,
    FORM_II_AS_FORM_I,
    FORM_V_WORDS,
    NISBA_COUNTRIES,
    NOT_A_FORM,
    NOT_MASDARS,
    NOT_PLURALS,
    NOT_VERB_FORMS,
    PLURALS,
    TA_NOUNS,
)

T = TypeVar("T")

ARTICLE = "ال"

# The forms (classes) a core stands for, in the order a hit prefers them when one written
# word is several forms of a keyword.
CORE = "core"
LISTED = "listed"
ALIAS = "alias"
DESIGNATION = "designation"
NISBA_FORM = "nisba"
PLURAL_FORM = "plural"
PAST_FORM = "past"
PRESENT_FORM = "present"
PARTICIPLE_FORM = "participle"
FORMS = (
    CORE,
    LISTED,
    ALIAS,
    DESIGNATION,
    NISBA_FORM,
    PLURAL_FORM,
    PAST_FORM,
    PRESENT_FORM,
    PARTICIPLE_FORM,
)
# What a keyword's own spelling already is, as opposed to what is derived from it.
WRITTEN_FORMS = frozenset({CORE, LISTED, ALIAS, DESIGNATION})

_ENCLITICS = ("ه", "ها", "هم", "هما", "هن", "ك", "كما", "كم", "كن", "ي", "نا")
# A bare -ي after a noun reads as a nisba (دفاعي "defensive") far more often than as "my".
_POSSESSIVES = tuple(e for e in _ENCLITICS if e != "ي")
# On verbs the first person object is ني, not ي.
_OBJECTS = ("ه", "ها", "هم", "هما", "هن", "ك", "كما", "كم", "كن", "ني", "نا")


def _noun_prefixes(*, article: bool | None, kaf: bool = True) -> frozenset[str]:
    """و/ف, then ب/ك/ل, then (optionally) ال, with ل + ال written لل.

    ``article``: True = must carry ال, False = must not, None = either. ``kaf`` False: no ك
    ("like"), which glued to a short word makes another word too often (ك + مال = كمال).
    """
    out: set[str] = set()
    for conj, prep in product(("", "و", "ف"), ("", "ب", "ك", "ل") if kaf else ("", "ب", "ل")):
        if article is not True:
            out.add(conj + prep)
        if article is not False:
            out.add(conj + ("لل" if prep == "ل" else prep + ARTICLE))
    return frozenset(out)


def _imperfect_prefixes(persons: str) -> frozenset[str]:
    """Conjunction, then future س or the ل of command/purpose, then the person prefix."""
    return frozenset(
        c + m + person for c, m, person in product(("", "و", "ف"), ("", "س", "ل"), persons)
    )


_NOUN_P = _noun_prefixes(article=None)
_SHORT_P = _noun_prefixes(article=None, kaf=False)
_BARE_P = _noun_prefixes(article=False)
_DEF_P = _noun_prefixes(article=True)
_PAST_P = frozenset({"", "و", "ف"})
_IMPERFECT_P = _imperfect_prefixes("يتنا")
# Form I and II imperfects: the ا of "I" would read as a form IV past or an elative (أقدم).
_IMPERFECT_YN_P = _imperfect_prefixes("ين")
_IMPERFECT_T_P = _imperfect_prefixes("ت")

_NOUN_S = frozenset(
    {"", "ا", "ات", "ان", "ين", "ون", *_POSSESSIVES, *("ات" + e for e in _ENCLITICS)}
)
# Three-letter nouns: pronoun suffixes only. A dual, a sound plural or -ا makes another word
# too often (عدن + ان = عدنان, عدن + ا = عدنا "we returned").
_NOUN3_S = frozenset({"", "ه", "ها", "هم", "هما", "هن", "كم", "كما", "كن", "نا"})
_TA_S = frozenset(
    {"ة", "ات", "تان", "تين", *("ت" + e for e in _ENCLITICS), *("ات" + e for e in _ENCLITICS)}
)
# Adjective-like words (nisba, participles): gender and number, no possessive pronouns.
_ADJ_S = frozenset({"", "ا", "ة", "ون", "ين", "ات", "ان", "تان", "تين", "و", "ي"})
# A participle's plural in construct takes a pronoun (منفذوه، مشغليها "its operators").
_CONSTRUCT_S = frozenset(b + e for b in ("و", "ي") for e in _POSSESSIVES)
_PARTICIPLE_S = _ADJ_S | _CONSTRUCT_S
_PLURAL_S = frozenset({"ات", *("ات" + e for e in _ENCLITICS)})
_BROKEN_S = frozenset({"", "ا", *_POSSESSIVES})
# A three-letter plural takes no -ا: مهنا is a name, not مهن "professions".
_BROKEN3_S = frozenset({"", *_POSSESSIVES})
_BROKEN_TA_S = frozenset({"ة", *("ت" + e for e in _POSSESSIVES)})
_SUBJECTS = ("", "ت", "ا", "وا", "تا", "ن", "نا", "تم", "تما", "تن")
_PAST_S = frozenset(
    {*_SUBJECTS, *(b + o for b in ("", "ت", "ا", "تا", "نا", "ن", "و", "تمو") for o in _OBJECTS)}
)
# The past of forms I and II, less what the root's other words make of it: after ت no object
# when the root with ة is a noun (قيمته "its value"), and when the root itself is a noun (امر
# "matter", قدم "foot") no bare stem, no -ا, no bare stem with an object, no نا (امرنا "our
# matter").
_T_OBJECTS = frozenset({"ت" + o for o in _OBJECTS})
_NOUN_LIKE = frozenset(
    {"", "ا", *_OBJECTS, "نا", "ن", *("نا" + o for o in _OBJECTS), *("ا" + o for o in _OBJECTS)}
)
_IMPERFECT_S = frozenset(
    {
        *("", "ون", "ان", "ين", "ن", "وا", "ا"),
        *(b + o for b in ("", "ون", "ان", "ين", "ن", "و", "ا") for o in _OBJECTS),
    }
)
# Weak final radical (انتهى، استدعى): the long stem keeps its ي (انتهيت، ينتهي), the short
# one drops it before و and ت of the third person (انتهت، انتهوا، ينتهون), and before an
# object the past's ى is written ا (استدعاه).
_PAST_WEAK_S = frozenset(
    {
        "",
        "ت",
        "نا",
        "تم",
        "تما",
        "تن",
        "ن",
        "ا",
        *(b + o for b in ("ت", "نا", "تمو") for o in _OBJECTS),
    }
)
# (No ك objects: انتهاك is "violation".)
_PAST_WEAK_A_S = frozenset(o for o in _OBJECTS if not o.startswith("ك"))
_PAST_WEAK_SHORT_S = frozenset(
    {"ت", "تا", "وا", *("و" + o for o in _OBJECTS), *("ت" + o for o in _OBJECTS)}
)
_IMPERFECT_WEAK_S = frozenset({"", "ان", "ن", *_OBJECTS, *("ان" + o for o in _OBJECTS)})
_IMPERFECT_WEAK_SHORT_S = frozenset(
    {"ون", "وا", "ين", *(b + o for b in ("و", "ون", "ين") for o in _OBJECTS)}
)
_PARTICIPLE_WEAK_S = frozenset({"", "ا", "ة", "ات", "ان", "تان", "تين", "ين"})
# A form I active participle of an intransitive masdar (نازح) is a noun of its own in the
# singular as often (خارج "outside", قادم "next", حادث "accident"): plural only, النازحين.
_PARTICIPLE_PLURAL_S = frozenset({"ون", "ين", "و", "ي"})
_PARTICIPLE_WEAK_SHORT_S = frozenset({"ون", "ين", "و"})


def _is_definite(prefix: str) -> bool:
    return prefix.endswith(ARTICLE) or prefix.endswith("لل")


# A preposition (ب، ك، ل) puts its noun in the genitive: after it no nominative or accusative
# ending (كاميرا is "camera", not ك + أمير + ا; كاميرون is Cameroon).
_PREPOSITIONS = frozenset(
    c + p for c in ("", "و", "ف") for p in ("ب", "ك", "ل", "ب" + ARTICLE, "ك" + ARTICLE, "لل")
)
_NOT_GENITIVE = frozenset({"ا", "ون", "ان", "تان", "و", *(s for s in _CONSTRUCT_S if s[0] == "و")})
# "We" and "I" (ن، ا) take no subject ending; "he" (ي) takes no -ين, which is "you (f.)" with ت.
_FIRST_PERSON_S = frozenset({"", *_OBJECTS})


def _is_future(prefix: str) -> bool:
    """An imperfect's prefix with the future س before its person letter (ستقبل)."""
    return prefix[-2:-1] == "س"


def _person_takes(prefix: str, suffix: str, imperfect: str) -> bool:
    person = prefix[-1]
    if person in "نا":
        return imperfect != "weak-short" and suffix in _FIRST_PERSON_S
    return not (person == "ي" and imperfect == "strong" and suffix.startswith("ين"))


@dataclass(frozen=True)
class Kind:
    """The affixes a core of one kind accepts.

    ``definite_only``: suffixes accepted only after the article. It is how ه stands in for ة
    (القياره): after ال the ه cannot be a possessive pronoun, so it can only be a misspelt ة,
    while bare مجموعه ("his total") stays apart from مجموعة ("group"). ``future_only``: the
    same for the future س of an imperfect (ستقبل "will accept", while تقبل is "acceptance").
    ``imperfect``: the prefixes end with a person letter, whose endings the suffix must be
    ("strong", "weak" for a long weak stem, "weak-short" for a short one; see _person_takes).
    """

    name: str
    prefixes: frozenset[str]
    suffixes: frozenset[str]
    definite_only: frozenset[str] = frozenset()
    future_only: frozenset[str] = frozenset()
    imperfect: str = ""
    pairs: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)
    # The suffixes of the pairs other than ("", ""): the bare core needs no split to be found.
    affixed_suffixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = set()
        for p in self.prefixes:
            for s in self.suffixes | self.definite_only | self.future_only:
                if s in self.future_only and s not in self.suffixes and not _is_future(p):
                    continue
                if self.imperfect and not _person_takes(p, s, self.imperfect):
                    continue
                # A definite noun takes no possessive pronoun (الانسحابها is not a word).
                if _is_definite(p) and s in _POSSESSIVE_SUFFIXES and s not in self.definite_only:
                    continue
                if s in self.definite_only and s not in self.suffixes and not _is_definite(p):
                    continue
                if p in _PREPOSITIONS and s in _NOT_GENITIVE:
                    continue
                pairs.add((p, s))
        object.__setattr__(self, "pairs", frozenset(pairs))
        affixed = frozenset(s for p, s in pairs if p or s)
        object.__setattr__(self, "affixed_suffixes", affixed)


_POSSESSIVE_SUFFIXES = frozenset(
    {
        *_ENCLITICS,
        *("ات" + e for e in _ENCLITICS),
        *("ت" + e for e in _ENCLITICS),
        *_CONSTRUCT_S,
    }
)

EXACT = Kind("exact", frozenset({""}), frozenset({""}))
NOUN = Kind("noun", _NOUN_P, _NOUN_S)
NOUN3 = Kind("noun-3", _SHORT_P, _NOUN3_S)
# Two-letter words: clitics in front only, a suffix would make a different word too often.
SHORT = Kind("short", _SHORT_P, frozenset({""}))
TA_NOUN = Kind("ta-noun", _NOUN_P, _TA_S, definite_only=frozenset({"ه"}))
NISBA = Kind("nisba", _NOUN_P, _ADJ_S, definite_only=frozenset({"ه"}))
PLURAL = Kind("plural", _NOUN_P, _PLURAL_S)
BROKEN = Kind("broken-plural", _NOUN_P, _BROKEN_S)
BROKEN3 = Kind("broken-plural-3", _NOUN_P, _BROKEN3_S)
BROKEN_TA = Kind("broken-plural-ta", _NOUN_P, _BROKEN_TA_S, definite_only=frozenset({"ه"}))
PARTICIPLE = Kind("participle", _NOUN_P, _PARTICIPLE_S, definite_only=frozenset({"ه"}))
# A form I active participle (فاعل) in construct is also a form III past: قابلوه "they met
# him", not "its acceptors".
PARTICIPLE_I = Kind("participle-i", _NOUN_P, _ADJ_S, definite_only=frozenset({"ه"}))
# Form III participles (مقاوم) double as lexicalised nouns; the feminine is the masdar itself.
PARTICIPLE_III = Kind(
    "participle-iii", _NOUN_P, frozenset({"", "ون", "ين", "و", "ي", "ان", *_CONSTRUCT_S})
)
PARTICIPLE_WEAK = Kind(
    "participle-weak", _NOUN_P, _PARTICIPLE_WEAK_S, definite_only=frozenset({"ه"})
)
PARTICIPLE_WEAK_SHORT = Kind("participle-weak-short", _NOUN_P, _PARTICIPLE_WEAK_SHORT_S)
PARTICIPLE_PLURAL = Kind("participle-plural", _NOUN_P, _PARTICIPLE_PLURAL_S)
PAST = Kind("past", _PAST_P, _PAST_S)
# Form III past stems (طالب, سابق) are also form I participles, "student", "former": only a
# subject or object suffix makes them verbs.
PAST_MARKED = Kind("past-marked", _PAST_P, _PAST_S - {"", "ا"})
PAST_NO_T_OBJECT = Kind("past-no-t-object", _PAST_P, _PAST_S - _T_OBJECTS)
PAST_NOUN_ROOT = Kind("past-noun-root", _PAST_P, _PAST_S - _NOUN_LIKE)
PAST_NOUN_ROOT_NO_T_OBJECT = Kind(
    "past-noun-root-no-t-object", _PAST_P, _PAST_S - _NOUN_LIKE - _T_OBJECTS
)
PAST_WEAK = Kind("past-weak", _PAST_P, _PAST_WEAK_S)
PAST_WEAK_A = Kind("past-weak-a", _PAST_P, _PAST_WEAK_A_S)
PAST_WEAK_SHORT = Kind("past-weak-short", _PAST_P, _PAST_WEAK_SHORT_S)
IMPERFECT = Kind("imperfect", _IMPERFECT_P, _IMPERFECT_S, imperfect="strong")
IMPERFECT_YN = Kind("imperfect-yn", _IMPERFECT_YN_P, _IMPERFECT_S, imperfect="strong")
IMPERFECT_T = Kind("imperfect-t", _IMPERFECT_T_P, _IMPERFECT_S, imperfect="strong")
# ت + a stem that is a form V noun (تقدم "progress", تدخل "intervention"): only with a subject
# ending (تقدمون) or the future س (ستقدم); not bare, not -ا (تقدما), not with an object
# (تقدمها "its progress").
_NOUN_LIKE_T = frozenset({"", "ا", *_OBJECTS, *("ا" + o for o in _OBJECTS)})
IMPERFECT_T_MARKED = Kind(
    "imperfect-t-marked",
    _IMPERFECT_T_P,
    _IMPERFECT_S - _NOUN_LIKE_T,
    future_only=_IMPERFECT_S & _NOUN_LIKE_T,
    imperfect="strong",
)
IMPERFECT_WEAK = Kind("imperfect-weak", _IMPERFECT_P, _IMPERFECT_WEAK_S, imperfect="weak")
IMPERFECT_WEAK_SHORT = Kind(
    "imperfect-weak-short", _IMPERFECT_P, _IMPERFECT_WEAK_SHORT_S, imperfect="weak-short"
)
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
    NOUN3,
    SHORT,
    TA_NOUN,
    NISBA,
    PLURAL,
    BROKEN,
    BROKEN3,
    BROKEN_TA,
    PARTICIPLE,
    PARTICIPLE_I,
    PARTICIPLE_III,
    PARTICIPLE_WEAK,
    PARTICIPLE_WEAK_SHORT,
    PARTICIPLE_PLURAL,
    PAST,
    PAST_MARKED,
    PAST_NO_T_OBJECT,
    PAST_NOUN_ROOT,
    PAST_NOUN_ROOT_NO_T_OBJECT,
    PAST_WEAK,
    PAST_WEAK_A,
    PAST_WEAK_SHORT,
    IMPERFECT,
    IMPERFECT_YN,
    IMPERFECT_T,
    IMPERFECT_T_MARKED,
    IMPERFECT_WEAK,
    IMPERFECT_WEAK_SHORT,
    FORM,
    NAME,
    NAME_TA,
    HEAD,
    HEAD_TA,
    TAIL,
    TAIL_TA,
)
ALL_PREFIXES = frozenset(p for k in KINDS for p in k.prefixes)
ALL_SUFFIXES = frozenset(s for k in KINDS for s in k.suffixes | k.definite_only | k.future_only)
_MAX_PREFIX = max(map(len, ALL_PREFIXES))
_MAX_SUFFIX = max(map(len, ALL_SUFFIXES))
# Every beginning of a prefix (وبا of وبال): once a word's first letters are none of these, no
# longer prefix can be found in it.
_PREFIX_STARTS = frozenset(p[:i] for p in ALL_PREFIXES for i in range(len(p) + 1))
# Letters of a core (with its suffix) that the pre-filter compares: four, because the heads
# of derived forms are few (است، ان، ا_ت) and three let most words of a text through.
_HEAD = 4


@dataclass(frozen=True)
class Core:
    """One stem of a keyword, the affixes it accepts, and the form it stands for.

    ``pattern`` says how it was derived (``VII``, ``مفعل → مفاعل``), for people reading
    ``marsad rules forms``; ``excluded`` are (prefix, suffix) pairs of its kind it does not
    take because the word they make is vetoed (:data:`arabic.wordlists.NOT_A_FORM`, a rule's
    ``none``). ``alefs``: the core's letters as the keyword wrote them (see
    :func:`arabic.tokens.alef_spelling`) when it wrote a hamza or a madda on an alef, which a
    written word must not contradict (:func:`contradicts`)."""

    text: str
    kind: Kind
    form: str = CORE
    pattern: str = ""
    excluded: frozenset[tuple[str, str]] = frozenset()
    alefs: str = ""

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """The (prefix, suffix) pairs this core accepts."""
        return self.kind.pairs - self.excluded if self.excluded else self.kind.pairs

    def splits(self, key: str) -> list[tuple[str, str]]:
        """The (prefix, suffix) pairs with which ``key`` is this core, if any."""
        text = self.text
        out = []
        for prefix in self.kind.prefixes:
            if key.startswith(prefix) and key.startswith(text, len(prefix)):
                suffix = key[len(prefix) + len(text) :]
                if (prefix, suffix) in self.kind.pairs:
                    out.append((prefix, suffix))
        return out

    def without(self, words: Iterable[str]) -> Core:
        """This core, no longer accepting ``words`` (match keys, as written with or without
        the clitics in front: a veto of ياسر also vetoes وياسر)."""
        excluded = set(self.excluded)
        for word in words:
            # A word ending in * stands for itself with every ending (تراجع*: تراجعوا too).
            every = word.endswith("*")
            word = word.removesuffix("*")
            # (A core is not vetoed by its own spelling: تراجع* is about بادل's تبادل, not
            # about the form VI past تبادل of the keyword تبادل.)
            if self.text not in word or self.text == word:
                continue
            for prefix, suffix in self.splits(word):
                # A word written with ة stands for all its feminine forms (مشكلة, مشكلات).
                family = (
                    self.kind.suffixes | self.kind.definite_only | self.kind.future_only
                    if every
                    else {s for s in self.kind.suffixes | self.kind.definite_only if s[:1] in "ةت"}
                    | {s for s in self.kind.suffixes if s.startswith("ات")}
                    if suffix == "ة"
                    else {suffix}
                )
                excluded.update(
                    (p, s) for p in self.kind.prefixes if p.endswith(prefix) for s in family
                )
        excluded &= self.kind.pairs
        return self if excluded == self.excluded else replace(self, excluded=frozenset(excluded))


def word_cores(
    key: str,
    *,
    exact: bool = False,
    verbs: bool | None = None,
    plurals: bool | None = None,
    spelled: str | None = None,
) -> tuple[Core, ...]:
    """The cores of a single-word keyword (given as a match key).

    ``verbs`` and ``plurals``: None derives what is safe for the keyword's shape, True also
    what is derived only on request (the verbs of any form I masdar, the plurals of a
    three-letter noun), False neither its verbs nor its broken plurals. ``spelled``: the
    keyword's :func:`arabic.tokens.alef_spelling`, when it has one; the cores that are its
    own letters then keep its hamzas and maddas (:attr:`Core.alefs`).
    """
    cores = _word_cores(key, exact=exact, verbs=verbs, plurals=plurals)
    return _with_alefs(cores, key, spelled) if spelled else cores


def _with_alefs(cores: tuple[Core, ...], key: str, spelled: str) -> tuple[Core, ...]:
    out = []
    for core in cores:
        at = key.find(core.text)
        alefs = spelled[at : at + len(core.text)] if at >= 0 else ""
        out.append(replace(core, alefs=alefs) if _MADDA_OR_HAMZA & set(alefs) else core)
    return tuple(out)


_MADDA_OR_HAMZA = frozenset("أإآ")


def contradicts(alefs: str, written: str) -> bool:
    """Whether a written word's letters (``written``, in alef spelling) put a madda where a
    core's ``alefs`` have a hamza, or a hamza where they have a madda: then it is another
    word (مآرب "aims" is not مأرب, the town; آثار "traces" is not أثار "stirred up"). A bare
    alef, and the choice between أ and إ, are spelling habits and contradict nothing."""
    for a, b in zip(alefs, written, strict=True):
        if a != b and a in _MADDA_OR_HAMZA and b in _MADDA_OR_HAMZA and "آ" in (a, b):
            return True
    return False


def _word_cores(
    key: str, *, exact: bool = False, verbs: bool | None = None, plurals: bool | None = None
) -> tuple[Core, ...]:
    if exact or not _is_arabic(key):
        return (Core(key, EXACT),)
    if key.startswith(ARTICLE) and len(key) > 4 and not _derived_verb_cores(key, had_ta=False):
        # (التقاء, التزام: a form VIII masdar whose root begins with ل, not ال + a name.)
        bare = key[2:]
        if _derived_verb_cores(bare.removesuffix("ة"), had_ta=bare.endswith("ة")):
            # الانسحاب is the common noun انسحاب written with its article.
            return _word_cores(bare, verbs=verbs, plurals=plurals)
        # Otherwise a keyword written with ال is a name (القيارة, القائم): the article stays,
        # so «قائم» ("standing") is not «القائم» (the town).
        return _name_cores(bare)
    ta = key.endswith("ة")
    stem = key[:-1] if ta else key
    cores: list[Core] = []
    if len(key) <= 2:
        cores.append(Core(key, SHORT))
    elif ta:
        cores.append(Core(stem, TA_NOUN))
    elif key.endswith("ات") and len(key) >= 6:
        stem = key[:-2]
        # انتخابات, مفاوضات: the plural of a masdar (with or without ة); its singular and its
        # verbs are the same word.
        derived = _derived_verb_cores(stem, had_ta=False) if verbs is not False else ()
        singular = Core(stem, NOUN)
        if not derived and verbs is not False:
            derived = _derived_verb_cores(stem, had_ta=True)
            singular = Core(stem, TA_NOUN)
        return _vetted([Core(stem, PLURAL), *((singular, *derived) if derived else ())])
    elif key.endswith("ي") and len(key) >= 4:
        cores.append(Core(key, NISBA))
    elif len(key) == 3:
        cores.append(Core(key, NOUN if plurals else NOUN3))
    else:
        cores.append(Core(key, NOUN))
    if verbs is not False:
        cores.extend(_verb_cores(stem, had_ta=ta, requested=verbs is True))
    if plurals is not False:
        cores.extend(_plural_cores(key, stem, had_ta=ta, requested=plurals is True))
    return _vetted(cores)


def _name_cores(bare: str) -> tuple[Core, ...]:
    if bare.endswith("ة"):
        return (Core(bare[:-1], NAME_TA),)
    if bare.endswith(("يين", "يون")) and len(bare) >= 5:
        # الحوثيين, الصدريون: the plural of a nisba name is that nisba.
        return _vetted([Core(bare[:-2], NISBA)])
    if bare.endswith("ي") and len(bare) >= 3:
        # الصدري, الحوثي: a nisba takes its endings with or without the article
        # (الصدريين، صدريون، الصدرية، صدري); the name itself keeps it.
        return _vetted([Core(bare, NAME), Core(bare, NISBA, NISBA_FORM, "nisba")])
    return (Core(bare, NAME),)


def _vetted(cores: list[Core]) -> tuple[Core, ...]:
    """The cores without the derived ones that are words of another meaning."""
    out: list[Core] = []
    for core in cores:
        if core.kind is NISBA:
            core = core.without(NISBA_COUNTRIES)
        if core.form not in WRITTEN_FORMS:
            if core.text in (NOT_PLURALS if core.form == PLURAL_FORM else NOT_VERB_FORMS):
                continue
            core = core.without(NOT_A_FORM)
        if core not in out:
            out.append(core)
    return tuple(out)


def form_cores(key: str) -> tuple[Core, ...]:
    """Cores of a word a rule lists under ``forms`` (broken plurals, form I verbs).

    It takes noun clitics and verb suffixes; written as an imperfect with ي (يهاجم), its stem
    also takes the other person prefixes (تهاجم, نهاجم, سيهاجمون).
    """
    if not _is_arabic(key) or len(key) <= 2:
        return (Core(key, EXACT, LISTED),)
    cores = [Core(key, FORM, LISTED)]
    if key.startswith("ي") and len(key) >= 4:
        cores.append(Core(key[1:], IMPERFECT, LISTED))
    if key.endswith("ة"):
        cores.append(Core(key[:-1], TA_NOUN, LISTED))
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


def _verb_cores(stem: str, *, had_ta: bool, requested: bool) -> tuple[Core, ...]:
    """The verb forms of a masdar: derived forms by default, form I only where safe unless
    ``requested``."""
    if stem in _LISTED_PLURALS or stem in NOT_MASDARS:
        return ()  # عقود, أتراك: a plural; جنوب: a noun of the shape of a masdar
    derived = _derived_verb_cores(stem, had_ta=had_ta)
    if derived:
        return derived
    root = form_i_root(stem, had_ta=had_ta, any_pattern=requested)
    return _form_i_cores(root.letters, root.pattern, requested=requested) if root else ()


def _derived_verb_cores(key: str, *, had_ta: bool) -> tuple[Core, ...]:
    """Past stem, imperfect stem and participle of a masdar of forms VII, VIII, X, III, VI or
    II (``key`` is the masdar without a final ة; ``had_ta`` says whether it had one)."""
    cores = _derived_cores(key, had_ta=had_ta)
    if len(key) == 7 and key.startswith("استي") and key[5] == "ا" and not had_ta:
        # Form X of a root with و first (ورد، ولي): the masdar's ي is the verb's و, استيراد →
        # استورد، يستورد، مستورد; استيلاء → استولى، استولت، يستولي.
        waw = _derived_cores("استو" + key[4:], had_ta=False)
        cores += tuple(c for c in waw if c not in cores)
    return cores


def _derived_cores(key: str, *, had_ta: bool) -> tuple[Core, ...]:
    n = len(key)
    past: str
    stem: str
    participles: tuple[str, ...]
    past_kind = PAST
    participle_kind = PARTICIPLE
    if had_ta and n == 6 and key.startswith("است") and key[4] == "ا":
        # Hollow form X: استقالة → استقال، يستقيل، مستقيل (not استقل "became independent").
        c1, c3 = key[3], key[5]
        past, stem, form = "است" + c1 + "ا" + c3, "ست" + c1 + "ي" + c3, "X"
        participles = ("م" + stem,)
    elif n >= 5 and key[0] == "ا" and key[-2] == "ا" and _is_vii_viii_x(key[1:-2]):
        body, last = key[1:-2], key[-1]
        form = "X" if body.startswith("ست") and len(body) == 4 else "VII/VIII"
        if last == "ء":
            # Weak final radical: انتهاء → انتهى، انتهت، ينتهي، ينتهون، المنتهية.
            return _weak_final_cores(body, form)
        if body[-1] == last:
            # Doubled root: احتلال → احتل، يحتل، محتل (not اتمام, form IV of تمم: its
            # "past" would be the أت of أتمنى "I wish").
            if len(body) < 3:
                return ()
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
        past_kind, participle_kind, form = PAST_MARKED, PARTICIPLE_III, "III"
    elif not had_ta and n == 5 and key[0] == "ت" and key[2] == "ا" and key[4] not in "اي":
        # Form VI تفاعل: the masdar is also the past stem and, after the person prefix, the
        # imperfect stem (تبادل → تبادلوا، يتبادل، متبادل).
        past = stem = key
        participles = ("م" + key,)
        form = "VI"
    elif not had_ta and (root := form_ii_root(key)) is not None:
        return _form_ii_cores(root)
    else:
        return ()
    return (
        Core(past, past_kind, PAST_FORM, form),
        Core(stem, IMPERFECT, PRESENT_FORM, form),
        *(Core(p, participle_kind, PARTICIPLE_FORM, form) for p in participles),
    )


def _weak_final_cores(body: str, form: str) -> tuple[Core, ...]:
    """انتهاء (body نته), استدعاء (body ستدع): long stems keep the final ي, short ones drop it."""
    return (
        Core("ا" + body + "ي", PAST_WEAK, PAST_FORM, form),
        Core("ا" + body + "ا", PAST_WEAK_A, PAST_FORM, form),
        Core("ا" + body, PAST_WEAK_SHORT, PAST_FORM, form),
        Core(body + "ي", IMPERFECT_WEAK, PRESENT_FORM, form),
        Core(body, IMPERFECT_WEAK_SHORT, PRESENT_FORM, form),
        Core("م" + body + "ي", PARTICIPLE_WEAK, PARTICIPLE_FORM, form),
        Core("م" + body, PARTICIPLE_WEAK_SHORT, PARTICIPLE_FORM, form),
    )


def _form_ii_cores(root: str) -> tuple[Core, ...]:
    """تدمير → دمروا، يدمر، المدمرة. A first radical hamza sits on ا in the past (أكد) and on
    و after the person prefix and the م (يؤكد، مؤكد), which match keys write ء."""
    seated = "ء" + root[1:] if root[0] == "ا" else root
    participle = Core("م" + seated, PARTICIPLE, PARTICIPLE_FORM, "II")
    if root in FORM_II_AS_FORM_I:
        return (participle,)
    return (
        Core(root, _past_kind(root), PAST_FORM, "II"),
        Core(seated, IMPERFECT_YN, PRESENT_FORM, "II"),
        Core(seated, _imperfect_t_kind(seated), PRESENT_FORM, "II"),
        participle,
    )


def _past_kind(root: str) -> Kind:
    """The past of a form I or II root, without what its nouns make of it (see _NOUN_LIKE)."""
    noun, ta_noun = root in BARE_HOMOGRAPHS, root + "ة" in TA_NOUNS
    if noun:
        return PAST_NOUN_ROOT_NO_T_OBJECT if ta_noun else PAST_NOUN_ROOT
    return PAST_NO_T_OBJECT if ta_noun else PAST


def _imperfect_t_kind(stem: str) -> Kind:
    return IMPERFECT_T_MARKED if "ت" + stem in FORM_V_WORDS else IMPERFECT_T


def _form_i_cores(root: str, pattern: str, *, requested: bool) -> tuple[Core, ...]:
    """سجن → سجن، سجنوا، يسجن، ساجن، مسجون. An initial و drops in the imperfect (وصول →
    يصل); an initial hamza's active participle (آسر) is written like the past.

    The past leaves out what the root's nouns make of it (see :func:`_past_kind`). Unless
    ``requested``, the active participle is plural only (singular, it is a noun of its own as
    often: خارج, قادم, حادث) and there is no passive one (intransitive فعول masdars have none;
    معلوم, مجموع are nouns)."""
    c1, c2, c3 = root[0], root[1], root[2]
    note = f"I ({pattern})"
    stem = root[1:] if c1 == "و" else root
    cores = [
        Core(root, _past_kind(root), PAST_FORM, note),
        Core(stem, IMPERFECT_YN, PRESENT_FORM, note),
        Core(stem, _imperfect_t_kind(stem), PRESENT_FORM, note),
    ]
    if c1 != "ا":
        active = PARTICIPLE_I if requested else PARTICIPLE_PLURAL
        cores.append(Core(c1 + "ا" + c2 + c3, active, PARTICIPLE_FORM, note))
    if requested:
        cores.append(Core("م" + c1 + c2 + "و" + c3, PARTICIPLE, PARTICIPLE_FORM, note))
    return tuple(cores)


def _plural_cores(key: str, stem: str, *, had_ta: bool, requested: bool) -> list[Core]:
    """Broken plurals: the listed ones, then the templates' (three-letter nouns only when
    ``requested``)."""
    listed = PLURALS.get(key)
    found: list[tuple[str, bool, str]] = [
        (p.removesuffix("ة"), p.endswith("ة"), "listed") for p in listed or ()
    ]
    if listed is None and (len(stem) >= 4 or (requested and len(stem) == 3)):
        found.extend(
            (p.text, p.ta, p.pattern)
            for p in broken_plurals(stem, had_ta=had_ta, short=len(stem) == 3)
        )
    return [
        Core(text, BROKEN_TA if ta else BROKEN if len(text) > 3 else BROKEN3, PLURAL_FORM, pattern)
        for text, ta, pattern in found
        # A template's plural that the word lists give as another word's plural is that
        # word's (أبين, the town, does not make أبناء).
        if pattern == "listed" or (text + "ة" if ta else text) not in _LISTED_PLURALS
    ]


_LISTED_PLURALS = frozenset(p for plurals in PLURALS.values() for p in plurals)


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
        # Per core text, the (prefix, suffix) pairs it is accepted with, its payload and its
        # alef spelling ("" for none).
        self._cores: dict[str, list[tuple[frozenset[tuple[str, str]], T, str]]] = {}
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
        pairs = core.pairs
        entries = self._cores.setdefault(text, [])
        entry = (pairs, payload, core.alefs)
        if entry not in entries:
            entries.append(entry)

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

    def analyse(self, key: str, spelled: str | None = None) -> list[T]:
        """Payloads of every core that ``key`` is an accepted form of, each once.

        ``spelled``: the word's :func:`arabic.tokens.alef_spelling`, if it has one; a core
        whose hamzas and maddas it contradicts does not count."""
        found: list[T] = []
        cores = self._cores
        whole = cores.get(key)
        if whole is not None:
            for pairs, payload, alefs in whole:
                # Two kinds of one core (تبادل: noun and past stem) may both take no affix.
                if ("", "") not in pairs or payload in found:
                    continue
                if not (alefs and spelled and contradicts(alefs, spelled)):
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
                for pairs, payload, alefs in entries:
                    if (prefix, suffix) in pairs and payload not in found:
                        if alefs and spelled and contradicts(alefs, spelled[plen:cut]):
                            continue
                        found.append(payload)
        return found
