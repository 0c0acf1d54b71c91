"""``marsad demo``: one full cycle, offline, on loopback.

Serves the bundled outlets (marsad/demo/content.py), crawls them into a fresh store with the
real crawler, matches the example rules, delivers the alerts to a local webhook sink, and
prints what arrived.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import click

from marsad.config import Config, config_from_document
from marsad.demo.content import OUTLETS
from marsad.demo.loopback import LoopbackServer, ReceivedRequest
from marsad.demo.site import feed_path, render_site

SECRET_ENV = "MARSAD_DEMO_WEBHOOK_SECRET"

DEMO_RULES: list[dict[str, Any]] = [
    {"name": "withdrawal", "keywords": ["انسحاب"], "channels": ["sink"]},
    {"name": "bases", "keywords": ["K1", "القيارة", "عين الأسد"], "channels": ["sink"]},
]


def demo_config(site_url: str, sink_url: str, store_path: Path, secret: str) -> Config:
    return config_from_document(
        {
            "feeds": [
                {"name": o.name, "url": site_url + feed_path(o), "every": "5m", "source": o.name}
                for o in OUTLETS
            ],
            "rules": DEMO_RULES,
            "channels": {
                "sink": {"type": "webhook", "url": sink_url + "/hook", "secret_env": SECRET_ENV}
            },
            # The sample site is on loopback, which the crawler refuses unless allowed.
            "crawl": {"delay": 0, "download_timeout": "10s", "allow_private": ["127.0.0.0/8"]},
            # The sample articles carry fixed dates in the past: alert on them whatever their age.
            "alerts": {"window": "off"},
        },
        db_override=store_path,
        environ={SECRET_ENV: secret},
    )


def fresh_store_path(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / "marsad.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    return store


def run_demo(workdir: Path) -> int:
    from marsad.scheduler.daemon import crawl_once
    from marsad.scheduler.logs import configure_logging

    store = fresh_store_path(workdir)
    # A fixed secret from the environment if one is set, so a receiver can be pointed at it.
    secret = os.environ.get(SECRET_ENV) or secrets.token_hex(16)
    site = LoopbackServer()
    site.set_pages(render_site(OUTLETS, site.base_url))
    sink = LoopbackServer()
    try:
        config = demo_config(site.base_url, sink.base_url, store, secret)
        click.echo(f"Serving {len(OUTLETS)} sample Arabic outlets on {site.base_url}")
        for outlet in OUTLETS:
            click.echo(
                f"  {outlet.name:8} {site.base_url}{feed_path(outlet)}  ({outlet.kind}, "
                f"{outlet.encoding}{'' if outlet.declare_charset else ', undeclared'})"
            )
        click.echo(f"Webhook sink on {sink.base_url}/hook; store {store}\n")
        configure_logging("WARNING")
        code = crawl_once(config)
        received = sink.received()
    finally:
        site.close()
        sink.close()
    _print_alerts(received, secret.encode())
    _print_stories(store)
    _print_next_steps(store)
    return code if received else 1


def _print_alerts(received: list[ReceivedRequest], secret: bytes) -> None:
    from marsad.alerts.signing import SIGNATURE_HEADER, verify

    click.secho(f"{len(received)} alert(s) delivered to the webhook sink:", bold=True)
    for request in received:
        payload = json.loads(request.body)
        article = payload.get("article", {})
        story = payload.get("story", {})
        headers = {k.lower(): v for k, v in request.headers.items()}
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        valid = verify(secret, signature, request.body, now=int(time.time()))
        signed = "valid" if valid else "INVALID"
        click.echo(f"\n  rule    {payload.get('rule')}")
        click.echo(f"  title   {article.get('title')}")
        click.echo(f"  source  {article.get('source')}  {article.get('url')}")
        if story:
            click.echo(
                f"  story   {story.get('outlets')} outlet(s): {', '.join(story.get('sources', []))}"
            )
        for hit in payload.get("matches", [])[:4]:
            click.echo(f"  match   {hit.get('surface')} ({hit.get('field')}): {hit.get('snippet')}")
        click.echo(f"  signature {signed}")


def _print_stories(store: Path) -> None:
    from marsad.storage.db import open_store
    from marsad.storage.queries import list_stories

    db = open_store(store)
    try:
        stories = list_stories(db, limit=50)
    finally:
        db.close()
    click.secho(f"\n{len(stories)} stories in the store:", bold=True)
    for story in stories:
        alerted = f"alerted: {story['rules']}" if story["alert_count"] else "no alert"
        click.echo(
            f"  #{story['story_id']} {story['title']}\n"
            f"      {story['article_count']} article(s) from {story['outlets']}; {alerted}"
        )


def _print_next_steps(store: Path) -> None:
    click.echo(
        f"\nThe store is {store}. Look inside:\n"
        f"  marsad stories --db {store}\n"
        f"  marsad search --db {store} الانسحاب\n"
        f"  marsad alerts --db {store}\n"
        f"  marsad inspect --db {store}      # Datasette in the browser, read-only\n"
    )
