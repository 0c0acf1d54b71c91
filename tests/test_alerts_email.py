"""E-mail delivery against a real SMTP server (aiosmtpd) on 127.0.0.1, through the real outbox.

Channels are parsed from [channels.NAME] tables, as the config loader does, with the password
from an injected environment.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Iterator, Mapping
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlite_utils import Database

from marsad.alerts.channels import Channel, parse_channels
from marsad.alerts.channels.email import (
    MARK_CLOSE,
    MARK_OPEN,
    SUBJECT_MAX,
    EmailChannel,
    message_id,
)
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import DeliveryReport, deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import NewArticle
from marsad.times import to_iso

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
RULE = Rule("انسحاب", ("الانسحاب",), ("mail",))
# A hostile title: a header injection attempt, a bell and a right-to-left override.
TITLE = "التحالف يعلن الانسحاب\r\nBcc: victim@example.com\x07 من القاعدة\u202e"
BODY = "أعلن التحالف اليوم الانسحاب من القاعدة الجوية بعد سنوات من <الوجود> العسكري فيها."
CONFIG = DeliveryConfig(max_attempts=4, backoff_base=30.0, backoff_max=3600.0)
PASSWORD_ENV = "MARSAD_TEST_SMTP_PASSWORD"
# ASCII: smtplib encodes AUTH as ASCII, so it cannot send a non-ASCII password at all.
PASSWORD = "p4ss-w0rd"


class Inbox:
    """An aiosmtpd handler that keeps what it accepts, or answers with ``reply_*`` if set."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, str]] = []
        self.reply_rcpt: str | None = None
        self.reply_data: str | None = None
        self.port = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.reply_rcpt:
            return self.reply_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reply_data:
            return self.reply_data
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Keeps every login tried; takes only ``marsad`` with :data:`PASSWORD`."""
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        # handled=False: aiosmtpd then answers a refusal with 535 itself.
        return AuthResult(success=(login, password) == ("marsad", PASSWORD), handled=False)

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        out = []
        for envelope in self.envelopes:
            content = envelope.original_content or b""
            message = parser.parsebytes(content)
            assert isinstance(message, EmailMessage)
            out.append(message)
        return out


class EphemeralController(Controller):
    """Listens on a port the OS picks, so parallel runs never collide.

    aiosmtpd connects to its own port once started, so the real port must be known before that:
    the server is created on port 0 and the chosen port read back from its socket.
    """

    def _create_server(self) -> Awaitable[Any]:
        async def create() -> Any:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


def serve(handler: Inbox, **smtp_options: Any) -> Iterator[Inbox]:
    controller = EphemeralController(handler, hostname="127.0.0.1", port=0, **smtp_options)
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield from serve(Inbox())


@pytest.fixture
def ascii_inbox() -> Iterator[Inbox]:
    """A server without SMTPUTF8, as many relays are: addresses must be ASCII."""
    yield from serve(Inbox(), enable_SMTPUTF8=False)


@pytest.fixture
def login_inbox() -> Iterator[Inbox]:
    """A server that asks for a login. Over plain SMTP: loopback only, and no TLS to set up."""
    handler = Inbox()
    yield from serve(handler, authenticator=handler.authenticate, auth_require_tls=False)


def mail(
    inbox: Inbox, *, environ: Mapping[str, str] | None = None, **table: Any
) -> dict[str, Channel]:
    """A [channels.mail] table sending to ``inbox`` (plus ``table``), parsed with ``environ``."""
    return parse_channels(
        {
            "mail": {
                "type": "email",
                "to": ["desk@example.org", "editor@example.org"],
                "from": "Marsad <alerts@marsad.example>",
                "smtp_host": "127.0.0.1",
                "smtp_port": inbox.port,
                "timeout": 5.0,
                **table,
            }
        },
        environ=environ or {},
    )


def queue(db: Database) -> int:
    url = "https://a.example/1?x=1&y=<2>"
    article = NewArticle(url=url, canonical_url=url, source="وكالة أ", title=TITLE, text=BODY)
    assert ingest_article(db, article, compile_rules([RULE]), now=to_iso(T0)).alerts_queued == 1
    return int(next(db.query("SELECT id FROM alerts"))["id"])


def run(db: Database, channels: dict[str, Channel]) -> DeliveryReport:
    return asyncio.run(deliver_due(db, channels, CONFIG, now=lambda: T0))


def alert_row(db: Database, alert_id: int) -> dict[str, Any]:
    return dict(next(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])))


def test_alert_is_mailed_as_rtl_multipart(store: Database, inbox: Inbox) -> None:
    alert_id = queue(store)
    report = run(store, mail(inbox))
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "alerts@marsad.example"
    assert envelope.rcpt_tos == ["desk@example.org", "editor@example.org"]
    [message] = inbox.messages()
    assert message.get_content_type() == "multipart/alternative"
    subject = str(message["Subject"])
    assert subject == "[marsad] انسحاب: التحالف يعلن الانسحاب Bcc: victim@example.com من القاعدة"
    assert "Bcc" not in message and "\u202e" not in subject
    key = alert_row(store, alert_id)["idempotency_key"]
    assert message["X-Marsad-Idempotency-Key"] == key
    assert message["Message-ID"] == message_id(key, "alerts@marsad.example")
    assert message["Message-ID"] == f"<{key}@marsad.example>"
    assert message["Auto-Submitted"] == "auto-generated"

    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text = text_part.get_content()
    assert "التحالف يعلن الانسحاب" in text
    assert f"{MARK_OPEN}الانسحاب{MARK_CLOSE}" in text
    assert "وكالة أ" in text
    page = html_part.get_content()
    assert '<html dir="rtl" lang="ar">' in page
    assert "<mark>الانسحاب</mark>" in page
    # Article text is escaped, and the link's & is too.
    assert "&lt;الوجود&gt;" in page and "<الوجود>" not in page
    assert 'href="https://a.example/1?x=1&amp;y=&lt;2&gt;"' in page
    assert "عدد وسائل الإعلام التي تنقل الخبر: 1" in page

    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    [attempt] = store.query("SELECT * FROM deliveries")
    assert (attempt["ok"], attempt["status_code"]) == (1, 250)


def test_permanent_smtp_failure_is_dead(store: Database, inbox: Inbox) -> None:
    alert_id = queue(store)
    inbox.reply_data = "550 5.7.1 message refused"
    report = run(store, mail(inbox))
    assert (report.sent, report.retried, report.dead) == (0, 0, 1)
    row = alert_row(store, alert_id)
    assert row["status"] == "dead"
    assert "SMTP 550" in row["last_error"] and "message refused" in row["last_error"]
    [attempt] = store.query("SELECT * FROM deliveries")
    assert (attempt["ok"], attempt["status_code"]) == (0, 550)


def test_temporary_smtp_failure_is_retried(store: Database, inbox: Inbox) -> None:
    alert_id = queue(store)
    inbox.reply_rcpt = "450 4.2.1 mailbox busy, try later"
    report = run(store, mail(inbox))
    assert (report.sent, report.retried, report.dead) == (0, 1, 0)
    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "all recipients refused" in row["last_error"] and "450" in row["last_error"]
    assert inbox.envelopes == []


def test_every_recipient_refused_permanently_is_dead(store: Database, inbox: Inbox) -> None:
    alert_id = queue(store)
    inbox.reply_rcpt = "550 5.1.1 no such user"
    assert run(store, mail(inbox)).dead == 1
    assert "no such user" in alert_row(store, alert_id)["last_error"]


def test_login_uses_the_password_from_the_injected_environment(
    store: Database, login_inbox: Inbox
) -> None:
    alert_id = queue(store)
    channels = mail(
        login_inbox,
        username="marsad",
        password_env=PASSWORD_ENV,
        environ={PASSWORD_ENV: PASSWORD},
    )
    assert run(store, channels).sent == 1
    assert login_inbox.logins == [("marsad", PASSWORD)]
    assert len(login_inbox.envelopes) == 1
    assert alert_row(store, alert_id)["status"] == "sent"


def test_a_refused_login_is_dead(store: Database, login_inbox: Inbox) -> None:
    alert_id = queue(store)
    channels = mail(
        login_inbox, username="marsad", password_env=PASSWORD_ENV, environ={PASSWORD_ENV: "wrong"}
    )
    assert run(store, channels).dead == 1
    assert "SMTP 535" in alert_row(store, alert_id)["last_error"]
    assert login_inbox.envelopes == []


def test_password_is_kept_on_the_channel_but_never_shown(inbox: Inbox) -> None:
    [channel] = mail(
        inbox, username="marsad", password_env=PASSWORD_ENV, environ={PASSWORD_ENV: PASSWORD}
    ).values()
    assert isinstance(channel, EmailChannel)
    assert (channel.password_env, channel.password) == (PASSWORD_ENV, PASSWORD)
    assert PASSWORD_ENV in repr(channel)
    assert PASSWORD not in repr(channel) and PASSWORD not in str(channel)


@pytest.mark.parametrize("environ", [{}, {PASSWORD_ENV: ""}], ids=["missing", "empty"])
def test_missing_password_is_recorded_and_retried(
    store: Database,
    login_inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
) -> None:
    # In the process environment but not in the one the channels were parsed with: the sender
    # never looks at the process environment.
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    alert_id = queue(store)
    channels = mail(login_inbox, username="marsad", password_env=PASSWORD_ENV, environ=environ)
    assert run(store, channels).retried == 1
    last_error = alert_row(store, alert_id)["last_error"]
    assert "MARSAD_TEST_SMTP_PASSWORD is not set" in last_error
    assert last_error == "channel mail: environment variable MARSAD_TEST_SMTP_PASSWORD is not set"
    assert login_inbox.envelopes == [] and login_inbox.logins == []


def test_starttls_not_offered_is_permanent(store: Database, inbox: Inbox) -> None:
    alert_id = queue(store)
    assert run(store, mail(inbox, starttls=True)).dead == 1
    assert "STARTTLS" in alert_row(store, alert_id)["last_error"]


def test_unreachable_server_is_retried(store: Database) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    alert_id = queue(store)
    channels: dict[str, Channel] = {
        "mail": EmailChannel(
            name="mail", to=("desk@example.org",), smtp_host="127.0.0.1", smtp_port=port
        )
    }
    assert run(store, channels).retried == 1
    assert "ConnectionRefusedError" in alert_row(store, alert_id)["last_error"]


# Headers that carry an article's title (or a rule's name) arrive as they were meant: RFC 2047
# decoders drop the whitespace between two encoded words, so a header folded at a space between
# encoded words glues two words together.

LONG_ARABIC = (
    "التحالف الدولي يعلن الانسحاب الكامل من القاعدة الجوية في شمال البلاد بعد سنوات من الوجود"
    " العسكري وسط ترقب إقليمي ودولي واسع لما ستؤول إليه الأوضاع الأمنية في المنطقة خلال الأشهر"
    " المقبلة"
)
MIXED = (
    "عاجل from Reuters: الرئيس يلتقي وفد NATO في العاصمة اليوم to discuss الانسحاب and"
    " the K1 base في نهاية الأسبوع"
)
EMOJI = "🚨 عاجل 🇸🇦 الانسحاب من القاعدة 👨‍👩‍👧 في الشمال ✅ والجنوب 🔥🔥 " * 3
SPACES = "الانسحاب    من   القاعدة  الجوية          في   الشمال " * 4
ONE_LONG_WORD = "ع" * 150
LOOKS_ENCODED = "=?utf-8?q?not_encoded?= title =?utf-8?b?2LnYp9is2YQ=?= as written"
LONG_ASCII = "Coalition announces withdrawal from the northern air base " * 3
LONG_RULE = "انسحاب القوات الأجنبية من القواعد العسكرية في الشمال والجنوب والشرق والغرب"


def queue_titled(db: Database, title: str, rule: Rule = RULE) -> None:
    url = "https://a.example/titled"
    article = NewArticle(url=url, canonical_url=url, source="وكالة أ", title=title, text=BODY)
    assert ingest_article(db, article, compile_rules([rule]), now=to_iso(T0)).alerts_queued == 1


def raw_headers(envelope: Envelope) -> dict[str, str]:
    """The header block as it crossed the wire: name → value with its folds."""
    content = (envelope.original_content or b"").decode("ascii")
    block = content.split("\r\n\r\n", 1)[0]
    headers: dict[str, str] = {}
    name = ""
    for line in block.split("\r\n"):
        assert len(line) <= 998, line
        if line[:1] in (" ", "\t"):
            headers[name] += "\r\n" + line
        else:
            name, _, value = line.partition(":")
            headers[name] = value.lstrip(" ")
    return headers


def rfc2047_decoded(raw: str) -> str:
    """``raw`` unfolded and decoded by the legacy decoder (email.header), a second reading of
    RFC 2047 besides email.policy.default's."""
    unfolded = raw.replace("\r\n", "")
    return str(make_header(decode_header(unfolded)))


@pytest.mark.parametrize(
    "title",
    [LONG_ARABIC, MIXED, EMOJI, SPACES, ONE_LONG_WORD, LOOKS_ENCODED, LONG_ASCII],
    ids=["long-arabic", "mixed", "emoji", "spaces", "one-long-word", "looks-encoded", "ascii"],
)
def test_subject_survives_smtp_and_the_parser(store: Database, inbox: Inbox, title: str) -> None:
    queue_titled(store, title)
    assert run(store, mail(inbox)).sent == 1
    [envelope] = inbox.envelopes
    [message] = inbox.messages()
    # What the subject is meant to be: the title on one line, whitespace runs made one space,
    # cut at SUBJECT_MAX with an ellipsis.
    words = " ".join(title.split())
    intended = f"[marsad] انسحاب: {words}"
    if len(intended) > SUBJECT_MAX:
        intended = intended[: SUBJECT_MAX - 1].rstrip() + "…"
    assert str(message["Subject"]) == intended
    raw = raw_headers(envelope)["Subject"]
    assert rfc2047_decoded(raw) == intended
    # Folded to the line length RFC 5322 asks for, in encoded words RFC 2047 allows.
    assert all(len(line) <= 78 for line in f"Subject: {raw}".split("\r\n"))
    assert all(len(word) <= 75 for word in re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw))


def test_long_subjects_are_folded_several_times(store: Database, inbox: Inbox) -> None:
    queue_titled(store, LONG_ARABIC)
    assert run(store, mail(inbox)).sent == 1
    [envelope] = inbox.envelopes
    assert raw_headers(envelope)["Subject"].count("\r\n") >= 4


def test_rule_header_survives_smtp_and_the_parser(store: Database, inbox: Inbox) -> None:
    rule = Rule(LONG_RULE, ("الانسحاب",), ("mail",))
    queue_titled(store, LONG_ARABIC, rule)
    assert run(store, mail(inbox)).sent == 1
    [envelope] = inbox.envelopes
    [message] = inbox.messages()
    assert message["X-Marsad-Rule"] == LONG_RULE
    assert rfc2047_decoded(raw_headers(envelope)["X-Marsad-Rule"]) == LONG_RULE
    assert str(message["Subject"]).startswith(f"[marsad] {LONG_RULE}: التحالف الدولي يعلن")


@pytest.mark.parametrize(
    "name",
    [
        "مرصد الأخبار العاجلة",
        "مرصد الأخبار العاجلة للمنطقة العربية والعالم في كل ساعة",
        "Marsad مرصد 🚨 alerts desk",
    ],
    ids=["short", "long", "mixed"],
)
def test_sender_display_name_survives_smtp_and_the_parser(
    store: Database, ascii_inbox: Inbox, name: str
) -> None:
    queue_titled(store, LONG_ARABIC)
    sender = f"{name} <alerts@marsad.example>"
    to = ["محرر الأخبار في المكتب الإقليمي للشرق الأوسط <desk@example.org>", "editor@example.org"]
    assert run(store, mail(ascii_inbox, to=to, **{"from": sender})).sent == 1
    [envelope] = ascii_inbox.envelopes
    # The envelope carries bare addresses, so a relay without SMTPUTF8 takes the message.
    assert envelope.mail_from == "alerts@marsad.example"
    assert envelope.rcpt_tos == ["desk@example.org", "editor@example.org"]
    [message] = ascii_inbox.messages()
    [address] = message["From"].addresses
    assert (address.display_name, address.addr_spec) == (name, "alerts@marsad.example")
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("محرر الأخبار في المكتب الإقليمي للشرق الأوسط", "desk@example.org"),
        ("", "editor@example.org"),
    ]
    headers = raw_headers(envelope)
    assert rfc2047_decoded(headers["From"]) == sender
    assert rfc2047_decoded(headers["To"]) == ", ".join(to)
    assert str(message["Subject"]).startswith("[marsad] انسحاب: التحالف الدولي يعلن")
