"""The channel-type registry: [channels.NAME] tables parsed by their type, secrets looked up once
in an injected environment, and a third channel type added as one module plus one entry."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import (
    CHANNEL_TYPES,
    ChannelError,
    ChannelType,
    parse_channels,
)
from marsad.alerts.channels.email import EmailChannel, EmailSender
from marsad.alerts.channels.fields import reject_unknown, required_str, secret_from
from marsad.alerts.channels.webhook import WebhookChannel, WebhookSender
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.outcome import Outcome
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import DueAlert, NewArticle
from marsad.times import to_iso

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HOOK = {
    "type": "webhook",
    "url": "https://hooks.example.org/m",
    "secret_env": "HOOK_SECRET",
    "timeout": 5,
    "headers": {"X-Team": "desk", "Authorization": "Bearer t"},
}
MAIL = {
    "type": "email",
    "to": "desk@example.org",
    "from": "alerts@marsad.example",
    "smtp_host": "mail.example.org",
    "smtp_port": 587,
    "starttls": True,
    "username": "marsad",
    "password_env": "SMTP_PASSWORD",
}
ALERT = DueAlert(
    id=1,
    article_id=1,
    story_id=1,
    rule="r",
    channel="ops",
    idempotency_key="marsad-1",
    payload={},
    attempts=0,
)


def test_a_webhook_table_is_parsed_with_its_secret_from_the_injected_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The process environment says otherwise: only the mapping passed in counts.
    monkeypatch.setenv("HOOK_SECRET", "from-the-process")
    channels = parse_channels({"ops": HOOK}, environ={"HOOK_SECRET": "s3cret"})
    assert channels == {
        "ops": WebhookChannel(
            name="ops",
            url="https://hooks.example.org/m",
            secret_env="HOOK_SECRET",
            secret="s3cret",
            timeout=5.0,
            headers=(("Authorization", "Bearer t"), ("X-Team", "desk")),
        )
    }
    shown = repr(channels["ops"])
    assert "HOOK_SECRET" in shown and "s3cret" not in shown


def test_an_email_table_is_parsed_with_its_password_from_the_injected_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "from-the-process")
    channels = parse_channels({"mail": MAIL}, environ={"SMTP_PASSWORD": "p4ss"})
    assert channels == {
        "mail": EmailChannel(
            name="mail",
            to=("desk@example.org",),
            sender="alerts@marsad.example",
            smtp_host="mail.example.org",
            smtp_port=587,
            starttls=True,
            username="marsad",
            password_env="SMTP_PASSWORD",
            password="p4ss",
        )
    }
    shown = repr(channels["mail"])
    assert "SMTP_PASSWORD" in shown and "p4ss" not in shown


@pytest.mark.parametrize("environ", [{}, {"HOOK_SECRET": "", "SMTP_PASSWORD": ""}])
def test_a_missing_secret_parses_and_its_send_is_retried(environ: dict[str, str]) -> None:
    channels = parse_channels({"ops": HOOK, "mail": MAIL}, environ=environ)
    hook, mail = channels["ops"], channels["mail"]
    assert isinstance(hook, WebhookChannel) and isinstance(mail, EmailChannel)
    assert (hook.secret, mail.password) == (None, None)
    assert (hook.unset_variables(), mail.unset_variables()) == (
        ("HOOK_SECRET",),
        ("SMTP_PASSWORD",),
    )
    resolved = parse_channels(
        {"ops": HOOK, "mail": MAIL}, environ={"HOOK_SECRET": "s", "SMTP_PASSWORD": "p"}
    )
    assert [c.unset_variables() for c in resolved.values()] == [(), ()]

    # The sender refuses before any network I/O: the alert stays pending.
    unsigned = asyncio.run(WebhookSender().send(ALERT, {}, hook, now=T0))
    assert unsigned == Outcome.retry(
        "channel ops: environment variable HOOK_SECRET is not set; the webhook is not sent unsigned"
    )
    no_login = asyncio.run(EmailSender().send(ALERT, {}, mail, now=T0))
    assert no_login == Outcome.retry("channel mail: environment variable SMTP_PASSWORD is not set")


def test_an_unknown_type_names_the_registered_types() -> None:
    with pytest.raises(ChannelError) as info:
        parse_channels({"ops": {"type": "x"}}, environ={})
    assert str(info.value) == (
        'channels.ops.type: must be "webhook", "email" or "apprise", got \'x\''
    )
    with pytest.raises(ChannelError, match=r"^channels.ops.type: must be .*, got None$"):
        parse_channels({"ops": {"url": "https://x.example"}}, environ={})
    # The wording follows the registry.
    with pytest.raises(ChannelError) as info:
        parse_channels(
            {"ops": {"type": ["webhook"]}},
            environ={},
            where="cfg.channels",
            channel_types={**CHANNEL_TYPES, "record": RECORD},
        )
    assert str(info.value) == (
        'cfg.channels.ops.type: must be "webhook", "email", "apprise" or "record", '
        "got ['webhook']"
    )
    with pytest.raises(ChannelError, match=r'^channels.ops.type: must be "record", got \'email\''):
        parse_channels({"ops": MAIL}, environ={}, channel_types={"record": RECORD})


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ([], "channels: must be a table of [channels.NAME] tables"),
        ({"ops": "webhook"}, "channels.ops: must be a table"),
        ({"ops": {**HOOK, "colour": "red"}}, "channels.ops.colour: unknown key (known: digest,"),
        ({"ops": {**HOOK, "url": "ftp://x.example"}}, "channels.ops.url: must be an http(s) URL"),
        ({"ops": {**HOOK, "url": " "}}, "channels.ops.url: required, a non-empty string"),
        ({"ops": {**HOOK, "headers": {"X": 1}}}, "channels.ops.headers: must be a table of"),
        ({"ops": {**HOOK, "secret_env": ""}}, "channels.ops.secret_env: must be a non-empty"),
        ({"ops": {**HOOK, "timeout": 0}}, "channels.ops.timeout: must be a duration from 0.1s"),
        ({"ops": {**HOOK, "timeout": True}}, "channels.ops.timeout: must be a duration from"),
        # NaN validated before, and every delivery then failed.
        ({"ops": {**HOOK, "timeout": float("nan")}}, "channels.ops.timeout: must be a duration"),
        ({"m": {**MAIL, "timeout": float("inf")}}, "channels.m.timeout: must be a duration"),
        ({"m": {**MAIL, "to": []}}, "channels.m.to: must be a non-empty list of e-mail"),
        ({"m": {**MAIL, "to": ["nobody"]}}, "channels.m.to: must be a non-empty list of e-mail"),
        ({"m": {**MAIL, "smtp_port": 0}}, "channels.m.smtp_port: must be a port number, got 0"),
        ({"m": {**MAIL, "smtp_port": True}}, "channels.m.smtp_port: must be a port number"),
        ({"m": {**MAIL, "ssl": "yes"}}, "channels.m.ssl: must be true or false, got 'yes'"),
        ({"m": {**MAIL, "ssl": True}}, "channels.m: starttls and ssl: choose one"),
        ({"m": {**MAIL, "username": None}}, "channels.m: username and password_env go together"),
    ],
)
def test_invalid_tables_name_the_channel_and_the_key(tables: object, message: str) -> None:
    with pytest.raises(ChannelError) as info:
        parse_channels(tables, environ={})
    assert str(info.value).startswith(message)


def test_no_channels_table_is_no_channels() -> None:
    assert parse_channels(None, environ={}) == {}


def test_the_registry_is_read_only() -> None:
    assert list(CHANNEL_TYPES) == ["webhook", "email", "apprise"]
    with pytest.raises(TypeError):
        CHANNEL_TYPES["record"] = RECORD  # type: ignore[index]


# A third channel type, written as a module of its own would be: its config, its parsing (with
# the package's helpers), its sending. Registering it is one entry in a copy of the registry.


@dataclass(frozen=True)
class RecordChannel:
    kind: ClassVar[str] = "record"

    name: str
    label: str
    token_env: str
    token: str | None = field(default=None, repr=False)

    def unset_variables(self) -> tuple[str, ...]:
        return () if self.token else (self.token_env,)


def parse_record(
    name: str, table: Mapping[str, object], where: str, environ: Mapping[str, str]
) -> RecordChannel:
    reject_unknown(table, {"type", "label", "token_env"}, where)
    token_env = required_str(table, "token_env", where)
    return RecordChannel(
        name=name,
        label=required_str(table, "label", where),
        token_env=token_env,
        token=secret_from(environ, token_env),
    )


class RecordSender:
    """Records what it would send, instead of sending it."""

    passes: ClassVar[list[RecordSender]] = []

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str, str | None]] = []
        self.closed = False
        RecordSender.passes.append(self)

    async def send(
        self, alert: DueAlert, story: Mapping[str, Any], channel: RecordChannel, *, now: datetime
    ) -> Outcome:
        self.sent.append((alert.id, channel.name, channel.label, channel.token))
        return Outcome.sent(200)

    async def aclose(self) -> None:
        self.closed = True


RECORD = ChannelType(name=RecordChannel.kind, parse=parse_record, sender=RecordSender)


def test_a_third_channel_type_is_one_module_and_one_registry_entry(store: Database) -> None:
    registry = {**CHANNEL_TYPES, RECORD.name: RECORD}
    channels = parse_channels(
        {
            "desk": {"type": "record", "label": "مكتب الأخبار", "token_env": "DESK_TOKEN"},
            "ops": HOOK,
        },
        environ={"DESK_TOKEN": "t0ken", "HOOK_SECRET": "s3cret"},
        channel_types=registry,
    )
    assert channels["desk"] == RecordChannel("desk", "مكتب الأخبار", "DESK_TOKEN", "t0ken")
    assert "t0ken" not in repr(channels["desk"])
    assert isinstance(channels["ops"], WebhookChannel)

    rule = Rule("انسحاب", ("الانسحاب",), ("desk",))
    url = "https://a.example/1"
    article = NewArticle(
        url=url, canonical_url=url, source="أ", title="الانسحاب من القاعدة", text="نص"
    )
    assert ingest_article(store, article, compile_rules([rule]), now=to_iso(T0)).alerts_queued == 1
    [alert_id] = [int(row["id"]) for row in store.query("SELECT id FROM alerts")]

    RecordSender.passes.clear()
    report = asyncio.run(
        deliver_due(store, channels, DeliveryConfig(), now=lambda: T0, channel_types=registry)
    )
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    [sender] = RecordSender.passes
    assert sender.sent == [(alert_id, "desk", "مكتب الأخبار", "t0ken")]
    assert sender.closed
    row = next(store.query("SELECT status FROM alerts WHERE id = ?", [alert_id]))
    assert row["status"] == "sent"


@pytest.mark.parametrize(
    ("given", "seconds"), [("10s", 10.0), ("1m", 60.0), (2.5, 2.5), ("30", 30.0)]
)
def test_a_channel_timeout_takes_the_one_duration_syntax(given: object, seconds: float) -> None:
    """`timeout = "10s"` was refused while `download_timeout = "30s"` was accepted."""
    hook = parse_channels({"ops": {**HOOK, "timeout": given}}, environ={})["ops"]
    mail = parse_channels({"m": {**MAIL, "timeout": given}}, environ={})["m"]
    assert hook.timeout == mail.timeout == seconds  # type: ignore[attr-defined]
