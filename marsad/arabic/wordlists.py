"""Word lists the derivation consults: written by us for this project (no third-party data).

- :data:`PLURALS`: broken plurals no template reaches or gets right (مدينة → مدن, طفل →
  أطفال, حاكم → حكام); for a word listed here the templates are not used (جامعة, listed
  with no broken plural, does not make جوامع "mosques").
- :data:`NOT_PLURALS`, :data:`NOT_VERB_FORMS`: words a template or a verb form makes out of
  some keyword's letters but that news uses as a word of their own (مقاتل is "fighter", not
  "places of killing"; مؤخرا is "recently", not "delayed"). A derived core spelt so is never
  made.
- :data:`NOT_A_FORM`: inflected words of that kind (مدرسة "school", not "a teacher (f.)";
  ياسر, the name, not "he captures").
- :data:`NISBA_COUNTRIES`: countries spelt like a nisba with -ا (سوريا, not سوري + ا).
- :data:`FORM_II_AS_FORM_I`, :data:`BARE_HOMOGRAPHS`: verbs whose forms are read as other
  words (يعلم "knows" for تعليم; bare عبر "via" for عبور).

Each was drawn from the derived forms that occur in a month of real Arabic news (about a
million words), read in their sentences.

Everything is written as people write it and turned into match keys on import.
"""

from __future__ import annotations

from marsad.arabic.tokens import match_key


def _keys(words: str) -> frozenset[str]:
    return frozenset(match_key(w.removesuffix("*")) + "*" * w.endswith("*") for w in words.split())


def _table(text: str) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for line in text.strip().splitlines():
        singular, plurals = line.split(":")
        plurals = plurals.replace("-", " ")
        for s in singular.split():
            table[match_key(s)] = tuple(match_key(p) for p in plurals.split())
    return table


# singular (several spellings on one line share the plurals): plurals
PLURALS: dict[str, tuple[str, ...]] = _table(
    """
    مدينة: مدن مدائن
    سجين: سجناء مساجين
    سفينة: سفن
    صحيفة: صحف
    جزيرة: جزر
    طريق طريقة: طرق
    سبيل: سبل
    دولة: دول
    غرفة: غرف
    فرقة فريق: فرق
    صورة: صور
    قرية: قرى
    قضية: قضايا
    هدية: هدايا
    ضحية: ضحايا
    خلية: خلايا
    زاوية: زوايا
    شظية: شظايا
    وصية: وصايا
    قائد: قادة
    زائر: زوار
    نائب: نواب
    رائد: رواد
    ثائر: ثوار
    سائح: سياح سواح
    صائم: صوام
    بائع: باعة
    طالب: طلاب طلبة
    حاكم: حكام
    عامل: عمال عوامل
    تاجر: تجار
    ساكن: سكان
    راكب: ركاب
    حارس: حراس
    ضابط: ضباط
    صانع: صناع
    قارئ: قراء
    كاتب: -
    جاهل: جهال
    خادم: خدام
    كافر: كفار
    عاشق: عشاق
    لاعب: -
    جامعة: -
    حاجز: حواجز
    شارع: شوارع
    ناشط: نشطاء
    عالم: علماء
    شاعر: شعراء
    قاض قاضي: قضاة
    مالك: ملاك
    ساحر: سحرة
    كبير: كبار
    صغير: صغار
    كريم: كرام
    شخص: أشخاص
    طفل: أطفال
    عضو: أعضاء
    شهر: أشهر شهور
    يوم: أيام
    بيت: بيوت
    جيش: جيوش
    حرب: حروب
    سجن: سجون
    سوق: أسواق
    حزب: أحزاب
    سعر: أسعار
    بلد: بلدان بلاد
    رجل: رجال
    امرأة: نساء
    ولد: أولاد
    ابن: أبناء
    أخ: إخوة إخوان
    أب: آباء
    عام: أعوام
    شيخ: شيوخ مشايخ
    قلب: قلوب
    عين: عيون
    نفس: أنفس نفوس
    حق: حقوق
    شعب: شعوب
    ملك: ملوك
    جبل: جبال
    بحر: بحار
    نهر: أنهار
    قرن: قرون
    حدث: أحداث
    خبر: أخبار
    عمل: أعمال
    أمر: أمور أوامر
    رأي: آراء
    دين: أديان ديون
    علم: علوم
    فن: فنون
    درس: دروس
    كتاب: كتب
    قبر: قبور
    جسر: جسور
    قصر: قصور
    مكان: أماكن
    مال: أموال
    حال: أحوال
    باب: أبواب
    نوع: أنواع
    وقت: أوقات
    لون: ألوان
    صوت: أصوات
    شاب: شباب شبان
    عدو: أعداء
    جار: جيران
    ضيف: ضيوف
    وفد: وفود
    جندي: جنود
    عربي: عرب
    كردي: أكراد
    تركي: أتراك
    أجنبي: أجانب
    شيعي: شيعة
    شرطي: شرطة
    حاج: حجاج
    دليل: أدلة
    دم: دماء
    يد: أيد أيادي
    أرض: أراض أراضي
    نبي: أنبياء
    لص: لصوص
    حي: أحياء
    دار: ديار
    أسرة: أسر
    سنة: سنوات سنين
    ثانية: ثوان ثواني
    ليلة: ليال ليالي
    نادي: أندية
    هدف: أهداف
    مباراة: مباريات
    لغم: ألغام
    خطر: أخطار مخاطر
    سبب: أسباب
    شرط: شروط
    حل: حلول
    حد: حدود
    قيد: قيود
    مليون: ملايين
    رقم: أرقام
    بنك: بنوك
    سهم: أسهم
    بئر: آبار
    عقد: عقود
    بند: بنود
    نص: نصوص
    حكم: أحكام
    تهمة: تهم
    عدد: أعداد
    شكل: أشكال
    جزء: أجزاء
    طرف: أطراف
    إمام: أئمة
    صاحب: أصحاب
    قتيل: قتلى
    جريح: جرحى
    أسير: أسرى
    مريض: مرضى
    صريع: صرعى
    غريق: غرقى
    صديق: أصدقاء
    طبيب: أطباء
    قريب: أقرباء أقارب
    غني: أغنياء
    ولي: أولياء
    قوي: أقوياء
    رفيق: رفاق
    أستاذ: أساتذة
    قسم: أقسام
    فرع: فروع
    مبنى: مبان مباني
    منشأة: منشآت
    ميناء: موانئ
    نقطة: نقاط
    خط: خطوط
    سر: أسرار
    فكرة: أفكار
    هجوم: هجمات
    جرح: جروح
    وفاة: وفيات
    فصيل: فصائل
    لواء: ألوية
    قناة: قنوات
    كأس: كؤوس
    بطل: أبطال
    عيد: أعياد
    سلعة: سلع
    رسم: رسوم
    قرض: قروض
    ماء: مياه
    شجرة: أشجار
    طير: طيور
    نجم: نجوم
    قمر: أقمار
    جو: أجواء
    ريح: رياح
    مطر: أمطار
    سيل: سيول
    سد: سدود
    وادي واد: أودية
    صحراء: صحارى
    حريق: حرائق
    وجه: وجوه
    رأس: رؤوس
    جسد: أجساد
    جثة: جثث
    روح: أرواح
    قيمة: قيم
    حلم: أحلام
    أمل: آمال
    شعور: مشاعر
    قصة: قصص
    فيلم: أفلام
    أغنية: أغاني أغنيات
    بحث: بحوث أبحاث
    مرض: أمراض
    دواء: أدوية
    وباء: أوبئة
    مهنة: مهن
    خطوة: خطوات
    خطة: خطط
    برنامج: برامج
    فرصة: فرص
    حاجة: حاجات حوائج
    جهد: جهود
    دور: أدوار
    واقعة: وقائع
    وظيفة: وظائف
    """
)

NOT_PLURALS: frozenset[str] = _keys(
    # مفاعل of a مفعل keyword that is mostly a form III participle (مقتل → مقاتل "fighter").
    """
    مقاتل مسالم مصارع مواطن مراسل منافس مهاجر معارض مخالف مساعد مراقب محافظ مجاهد مناضل
    مسافر مباشر موافق مناسب معالج محاسب مراجع مقاول مكافح مناصر مطارد معاون مسابق ممارس منافق
    """
    # Plurals by template that are words of their own: الجزائر (Algeria), مقابل "in return",
    # مماثل "similar", ضوابط "rules" (not "officers"); وواقع is و + واقع, "and reality".
    """
    جزائر وواقع ضوابط مقابل مماثل
    """
)

NOT_VERB_FORMS: frozenset[str] = _keys(
    # Participles (and a few verb stems) that news uses as words of another meaning: مستقبل
    # "future" is not "receiving", مسلم "Muslim" not "handing over", ممكن "possible" not
    # "enabling", المتحدة "United" not "uniting".
    """
    مستقبل مجتمع منتخب مستشفى مستشف مستودع منتجع ملتقى ملتق منتدى منتد مستوى مستو مختار
    معاهد مسلم مؤمن موقع مصنع مجمع مؤخر مركز منظم مسير مكرم مقدس معدل مسكن مطعم مخدر معين
    مقدم مكتب مجلس مسرح مشرف موسم مصدر مركب محرك مولد موقف مصرف مرشد مخزن مؤسس خارج داخل
    واصل حاضر قائم مقر مطلق مقرر متحد مختلف مصادر مبارك مرافق مصالح معظم ممكن مخرج مقيم مؤشر
    مقاتل مساعد محافظ مقابل مناسب مباشر مظاهر ملابس مبالغ موصل مجمل مجدد محور محسن مقدر
    محتوى محتو ممتاز
    """
)

NOT_A_FORM: frozenset[str] = _keys(
    # Feminine participles that are nouns of their own (مدرسة "school", not "a teacher (f.)";
    # a word written with ة stands for all its feminine forms: مشكلات too); form III
    # imperfects with ت that are form VI words (تراجع "retreat" is not "she reviews"; * marks
    # a word vetoed with every ending, تراجعوا, تراجعه); names
    # shaped like an imperfect (ياسر is not "he captures").
    """
    مدرسة منظمة مؤسسة مقدمة مطبعة محطة مشكلة مرحلة محكمة معرفة مرتبة
    تراجع* تعاون* تعامل* تواصل* تحالف* تفاعل* تعادل* تقابل* تنافس* تواجد* تكامل* تبادل* تداول*
    ياسر يامن تدمر فيصل
    """
)

# Countries written as a nisba + ا (سوريا is Syria, not سوري "Syrian" with -ا): never a form of
# a nisba, whatever else the keyword is.
NISBA_COUNTRIES: frozenset[str] = _keys(
    """
    سوريا روسيا تركيا ليبيا ماليزيا إيطاليا أستراليا كوريا نيجيريا بريطانيا ألمانيا إسبانيا
    رومانيا ألبانيا موريتانيا كينيا إثيوبيا إندونيسيا أفريقيا إفريقيا كولومبيا بوليفيا صربيا
    كرواتيا سلوفاكيا سلوفينيا بلغاريا تنزانيا زامبيا غامبيا ليتوانيا لاتفيا إستونيا جورجيا
    أرمينيا منغوليا كمبوديا غينيا آسيا سيبيريا كاليفورنيا فرجينيا بنسلفانيا
    """
)

# Roots whose form II verb is written like a common form I verb of another sense: for تعليم,
# يعلم is "he knows" far more often than "he teaches"; تكوين's يكون is "to be". Their form II
# masdars keep only the participle.
FORM_II_AS_FORM_I: frozenset[str] = _keys(
    """
    كون مكن علم عرف حمل قوم قيم حدث ذكر وصل خرج نزل وقع كبر فهم امن الف سير فعل ضمن رغب
    حفظ حصل صدر عقد قدر
    """
)

# Words of the shape of a masdar that are nouns: جنوب "south" has no verb جنب.
NOT_MASDARS: frozenset[str] = _keys(
    """
    جنوب شمال سعود
    """
)

# Form I pasts that, bare, are another common word: a particle (عبر "via", قبل "before"), a
# noun (حدث "event", شعب "people") or a name (سعد, مصر). Written so, they are matched only with
# a subject or object suffix.
BARE_HOMOGRAPHS: frozenset[str] = _keys(
    """
    بعد قبل عدد امس منذ عبر بعض مثل الف احد عند عبد ضمن اخر شهر اجل مصر تحت عدم وقت عمل
    وسط فهد حفل رغم عقد سعر عشر عمر شخص حزب وضع حسب امن اهم اثر شرق اقل متر وجه امر قدم
    سعد فرق رقم خمس حدث غرب نفس قرب نصف رجل ابن سبب اسم جزء حكم حرب هدف قصر فرع ارض بدر
    صدر اهل شكل ملف بطل حمد خلف فجر اصل نجم بنك جسر جبل شرف محل خطر بلد عصر امل قلب فضل
    طفل لقب زمن رجب نسب رسم درب ملك ولد ركن متن شبه ذهب صفر شعب اسر حجر وطن اذن طرف عنف
    سطح جهد ربع عكس سقف ثمن قرن بحر نصب شعر وزن نصر صقر جسم نهر خبر شرط سلم علم كتب عرض
    وقف ظهر دخل حسن حجم درس دين عين حول غير جنب فجر هجر درب صور طور وقع حذر سجل هرب جند
    عذب كرم عدل رتب خطط طبق مول شغل سهل وفر قيم قدر حمل
    """
)

# Form V words, ت + three letters, that news uses as nouns (they take the article: التقدم,
# التدخل): a form I or II imperfect with ت written so needs a subject ending (تقدمون), since
# تقدم, تقدمها are "progress", "its progress" as often as "she presents (it)".
FORM_V_WORDS: frozenset[str] = _keys(
    """
    تطرف تقدم تدخل تسوق تصدي تعرف تحكم تطور تخرج تحول ترشح تحرك تميز تضخم تنوع تحقق تعرض
    تخلص تنقل تقيد تنفس تخصص تعلم تشدد تجول تسول تصرف تحمل تجمع تفرغ تحسن تحفظ تحدث تماس
    تغير تمدد تردد تعثر تمكن تمسك تكرم تفوق تسلح تخلف تكتل تطرق تصور تسبب تدين تدرب تنصت
    تكيف تقرب تثبت تبرع تعهد تزود ترصد تلقي تفكك تعدد توقع توقف تاخر تاثر تاكد تحدي تقبل
    تمرد تعاطف تشكل تحرر تخوف تجسس تسرب تفجر تدهور ترقب تفهم تجنب تعمد تفقد تكلف تلوث تشرد
    توسع توحد توجه تاهل تعذر تقلب تصدر تسلم تعطل تضرر تصدع تذمر تعصب تنمر تحيز تبدل تخزين
    """
)

# Nouns of a three-letter root and ة (قيمة, قدرة, حملة): a past with ت and an object reads as
# that noun with a pronoun (قيمته "its value", not "she valued it"), so such a root's past
# takes no object after ت.
TA_NOUNS: frozenset[str] = _keys(
    """
    دولة حالة خدمة حياة نسبة شرطة حركة قيمة فرصة صورة مهمة صفقة عودة قضية غرفة حملة قرية
    اسرة حاجة فكرة رحلة كلمة جولة دورة جلسة جودة فرقة قدرة بعثة رغبة ثورة سرعة سلطة عادة
    فرحة بلدة نسخة ليلة وجهة خبرة طلبة بقية بنية فتنة نشرة دفعة ورشة نظرة عملة قطعة قاعة
    نصرة راحة لعبة طبقة وجبة رحمة ضربة مهلة خطبة هجرة ميزة عمرة حزمة ورقة نقلة نعمة جملة
    كثرة فقرة شحنة وصفة محبة غربة وقفة كتلة هدية عزلة شهرة تهمة عقبة سمعة حرمة عطلة زينة
    عينة عجلة حكمة قبضة قبلة عظمة هجمة غفلة نزعة لمسة فسحة شعبة رقصة رخصة رتبة سرقة حضرة
    """
)
