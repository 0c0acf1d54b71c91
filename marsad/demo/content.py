"""The demo's news: three outlets, the K1 withdrawal story and copies of it, and unrelated items.

All text here was written for marsad (it is not taken from any outlet). The story mirrors the
seed article's event so that the example rules in marsad.example.toml fire on it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoArticle:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: str  # RFC 3339
    author: str


@dataclass(frozen=True)
class DemoOutlet:
    name: str  # feed name and source
    title: str
    kind: str  # "rss" or "atom"
    encoding: str  # what the outlet's server sends, declared nowhere for windows-1256
    declare_charset: bool
    articles: tuple[DemoArticle, ...]


_STORY = (
    "كركوك – أعلن التحالف الدولي بقيادة الولايات المتحدة يوم الأحد انسحاب قواته من قاعدة K1 "
    "الجوية شمالي العراق وتسليمها إلى القوات العراقية، في ثالث خطوة من نوعها خلال الشهر الجاري.",
    "وقال متحدث باسم التحالف في بيان إن عملية التسليم جرت وفق جدول زمني متفق عليه مع الحكومة "
    "العراقية، وإن المعدات التي تركتها القوات المغادرة تزيد قيمتها على مليون دولار.",
    "وكانت قوات التحالف قد انسحبت في وقت سابق من قاعدة القيارة جنوب الموصل ومن موقع القائم قرب "
    "الحدود السورية، فيما تتجمع القوات المتبقية في قاعدة عين الأسد الجوية غرب البلاد وفي بغداد.",
    "ويقول مسؤولون عراقيون إن القوات الأمنية قادرة على ملء الفراغ، بينما يحذر خبراء من أن خلايا "
    "التنظيم ما زالت تنشط في المناطق الجبلية المحيطة بمدينة كركوك.",
    "وتضم القاعدة مطاراً عسكرياً ومنشآت لوجستية، واستخدمها التحالف منذ عام 2017 منطلقاً "
    "لعملياته في شمال البلاد.",
)

_GOLD = DemoArticle(
    slug="gold-prices",
    title="ارتفاع أسعار الذهب في الأسواق العالمية",
    paragraphs=(
        "ارتفعت أسعار الذهب في تعاملات الإثنين مع تراجع الدولار، وسجلت الأوقية أعلى مستوى لها "
        "منذ ثلاثة أسابيع.",
        "ويرى متعاملون أن الطلب على المعدن الأصفر يبقى قوياً مع ترقب قرارات البنوك المركزية "
        "بشأن أسعار الفائدة.",
    ),
    published="2020-03-30T08:15:00+00:00",
    author="قسم الاقتصاد",
)

_FOOTBALL = DemoArticle(
    slug="friendly-match",
    title="المنتخب يفوز في مباراة ودية استعداداً للتصفيات",
    paragraphs=(
        "فاز المنتخب الوطني على ضيفه بهدفين مقابل هدف في مباراة ودية أقيمت مساء السبت على "
        "الملعب الرئيسي في العاصمة.",
        "وقال المدرب بعد اللقاء إن الفريق أظهر تحسناً واضحاً في خط الوسط، وإن التجارب ستستمر "
        "قبل انطلاق التصفيات.",
    ),
    published="2020-03-28T19:40:00+00:00",
    author="القسم الرياضي",
)

_HEAT = DemoArticle(
    slug="heat-wave",
    title="موجة حر تضرب عدداً من المدن الساحلية",
    paragraphs=(
        "تشهد المدن الساحلية موجة حر شديدة هذا الأسبوع، إذ تجاوزت درجات الحرارة الأربعين في "
        "ساعات الظهيرة.",
        "ودعت هيئة الأرصاد السكان إلى تجنب التعرض المباشر لأشعة الشمس وشرب كميات كافية من الماء.",
    ),
    published="2020-03-29T06:00:00+00:00",
    author="مكتب الطقس",
)

OUTLETS: tuple[DemoOutlet, ...] = (
    DemoOutlet(
        name="wire",
        title="وكالة المرصد للأنباء",
        kind="rss",
        encoding="utf-8",
        declare_charset=True,
        articles=(
            DemoArticle(
                slug="coalition-leaves-k1",
                title="التحالف الدولي ينسحب من قاعدة K1 الجوية في كركوك",
                paragraphs=_STORY,
                published="2020-03-29T09:00:00+00:00",
                author="مراسل المرصد",
            ),
            _GOLD,
        ),
    ),
    DemoOutlet(
        name="gazette",
        title="الجريدة اليومية",
        kind="atom",
        encoding="utf-8",
        declare_charset=True,
        articles=(
            # The wire story again, re-titled, with a credit line: a copy, not a new story.
            DemoArticle(
                slug="k1-handed-over",
                title="قوات التحالف تغادر قاعدة كي 1 وتسلمها للجيش العراقي",
                paragraphs=(*_STORY, "المصدر : وكالة المرصد للأنباء"),
                published="2020-03-29T11:30:00+00:00",
                author="المحرر",
            ),
            _FOOTBALL,
        ),
    ),
    DemoOutlet(
        name="courier",
        title="بريد الخليج",
        kind="rss",
        # Many Arabic sites still serve windows-1256 and declare it nowhere.
        encoding="windows-1256",
        declare_charset=False,
        articles=(
            DemoArticle(
                slug="k1-short",
                title="انسحاب من K1",
                paragraphs=(*_STORY[:3], "(وكالات)"),
                published="2020-03-29T12:10:00+00:00",
                author="",
            ),
            _HEAT,
        ),
    ),
)
