"""Read-only questions asked of the store by ``marsad search|stories|show|alerts|feeds|stats``.

One function per SQL statement; rows come back as plain dicts, ready for a table or for JSON.
Where a view of migration 0003 answers the question, the query reads the view, so the command
line and a ``sqlite3`` user get the same answer. Every value from the user is a parameter.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

Row = dict[str, Any]


def search_articles(
    db: Database,
    match: str,
    *,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    rule: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Row]:
    """Articles whose normalised title or text match the FTS5 expression ``match``, best first
    (from the ``offset``-th).

    ``match`` must be the ``fts()`` of a :func:`storage.search.parse_query`. Title hits weigh
    five times body hits. ``since``/``until`` bound the publication time (fetch time when
    unknown), ``until`` exclusive; ``rule`` keeps articles that matched that watch rule.
    """
    return list(
        db.query(
            """
            SELECT a.id, a.title, a.text, a.source, a.url,
                   coalesce(a.published, a.fetched_at) AS published,
                   a.story_id, a.duplicate_of, s.article_count, s.outlet_count,
                   round(bm25(articles_fts, 5.0, 1.0), 3) AS score
            FROM articles_fts
            JOIN articles a ON a.id = articles_fts.rowid
            JOIN stories s ON s.id = a.story_id
            WHERE articles_fts MATCH :match
              AND (:source IS NULL OR a.source = :source)
              AND (:since IS NULL OR coalesce(a.published, a.fetched_at) >= :since)
              AND (:until IS NULL OR coalesce(a.published, a.fetched_at) < :until)
              AND (:rule IS NULL OR EXISTS (
                    SELECT 1 FROM matches m WHERE m.article_id = a.id AND m.rule = :rule))
            ORDER BY bm25(articles_fts, 5.0, 1.0), a.id
            LIMIT :limit OFFSET :offset
            """,
            {
                "match": match,
                "source": source,
                "since": since,
                "until": until,
                "rule": rule,
                "limit": limit,
                "offset": offset,
            },
        )
    )


def index_words(db: Database, start: str, end: str) -> list[str]:
    """The words of the search index in [start, end), in order (migration 0011's
    articles_fts_vocab: what an analysed search term's forms are picked from)."""
    return [
        row["term"]
        for row in db.query(
            "SELECT term FROM articles_fts_vocab WHERE term >= ? AND term < ?", [start, end]
        )
    ]


def list_stories(
    db: Database,
    *,
    since: str | None = None,
    rule: str | None = None,
    min_outlets: int = 1,
    limit: int = 20,
) -> list[Row]:
    """Stories seen most recently first, from the ``story_overview`` view."""
    return list(
        db.query(
            """
            SELECT * FROM story_overview
            WHERE (:since IS NULL OR last_seen >= :since)
              AND outlet_count >= :min_outlets
              AND (:rule IS NULL OR EXISTS (
                    SELECT 1 FROM matches m JOIN articles x ON x.id = m.article_id
                    WHERE x.story_id = story_overview.story_id AND m.rule = :rule))
            ORDER BY last_seen DESC, story_id DESC
            LIMIT :limit
            """,
            {"since": since, "rule": rule, "min_outlets": min_outlets, "limit": limit},
        )
    )


def get_story(db: Database, story_id: int) -> Row | None:
    """A story holding articles, from the ``story_overview`` view (None for a merged one)."""
    rows = list(db.query("SELECT * FROM story_overview WHERE story_id = ?", [story_id]))
    return rows[0] if rows else None


def story_merged_into(db: Database, story_id: int) -> int | None:
    """The story a merged story is part of now (None when it was not merged)."""
    rows = list(db.query("SELECT merged_into FROM stories WHERE id = ?", [story_id]))
    return int(rows[0]["merged_into"]) if rows and rows[0]["merged_into"] is not None else None


def stories_merged_into(db: Database, story_id: int) -> list[int]:
    """The stories that became part of this one."""
    return [
        int(r["id"])
        for r in db.query("SELECT id FROM stories WHERE merged_into = ? ORDER BY id", [story_id])
    ]


def story_quoted_by(db: Database, story_id: int) -> list[Row]:
    """Articles of other stories that also quote this story's original (roundups)."""
    return list(
        db.query(
            """
            SELECT q.article_id, a.story_id, a.source, a.title, a.url,
                   coalesce(a.published, a.fetched_at) AS published, q.similarity
            FROM story_quotes q JOIN articles a ON a.id = q.article_id
            WHERE q.story_id = ?
            ORDER BY coalesce(a.published, a.fetched_at), q.article_id
            """,
            [story_id],
        )
    )


def story_also_quotes(db: Database, story_id: int) -> list[Row]:
    """Other stories that this story's articles also quote, with the article quoting each."""
    return list(
        db.query(
            """
            SELECT q.article_id, q.story_id, s.title, s.article_count, s.outlet_count,
                   q.similarity
            FROM story_quotes q
            JOIN articles a ON a.id = q.article_id
            JOIN stories s ON s.id = q.story_id
            WHERE a.story_id = ?
            ORDER BY q.article_id, q.story_id
            """,
            [story_id],
        )
    )


def article_also_quotes(db: Database, article_id: int) -> list[Row]:
    """The stories an article also quotes, besides the one it is part of."""
    return list(
        db.query(
            """
            SELECT q.story_id, s.title, s.article_count, s.outlet_count, q.similarity
            FROM story_quotes q JOIN stories s ON s.id = q.story_id
            WHERE q.article_id = ?
            ORDER BY q.story_id
            """,
            [article_id],
        )
    )


def find_article_id(db: Database, *, url: str, canonical_url: str) -> int | None:
    """The article stored under this URL, as given or in its canonical spelling."""
    rows = list(
        db.query(
            "SELECT id FROM articles WHERE canonical_url = :c OR url = :u "
            "ORDER BY canonical_url = :c DESC, id LIMIT 1",
            {"c": canonical_url, "u": url},
        )
    )
    return int(rows[0]["id"]) if rows else None


def get_article(db: Database, article_id: int) -> Row | None:
    """One article in full (without the normalised columns, which are for the index);
    ``pruned_at`` says when its text was pruned ([retention] bodies), if it was."""
    rows = list(
        db.query(
            """
            SELECT id, url, canonical_url, guid, source, title, text, author,
                   published, language, extraction, story_id, duplicate_of, similarity,
                   dup_evidence, fetched_at, feed_id, pruned_at
            FROM articles WHERE id = ?
            """,
            [article_id],
        )
    )
    return rows[0] if rows else None


def story_articles(db: Database, story_id: int) -> list[Row]:
    """Every article of a story, earliest published first: the original, its copies and its
    translations (``translation_of``: the article it was translated from, with its score)."""
    return list(
        db.query(
            """
            SELECT a.id, a.source, a.title, a.url, coalesce(a.published, a.fetched_at) AS published,
                   a.duplicate_of, a.similarity, a.fetched_at,
                   x.original_id AS translation_of, x.score AS translation_score
            FROM articles a LEFT JOIN crosslingual_links x ON x.translation_id = a.id
            WHERE a.story_id = ?
            ORDER BY coalesce(a.published, a.fetched_at), a.id
            """,
            [story_id],
        )
    )


def story_matches(db: Database, story_id: int) -> list[Row]:
    """Watch-rule hits in any article of a story."""
    return list(
        db.query(
            """
            SELECT m.article_id, m.rule, m.keyword, m.field, m.surface, m.snippet
            FROM matches m JOIN articles a ON a.id = m.article_id
            WHERE a.story_id = ?
            ORDER BY m.article_id, m.rule, m.start
            """,
            [story_id],
        )
    )


def story_alerts(db: Database, story_id: int) -> list[Row]:
    """The story's alerts, with those left on stories merged into it (sent ones, history)."""
    # By id through the indexes: the view's story_id is computed, so filtering on it scans.
    return list(
        db.query(
            """
            SELECT * FROM alert_deliveries WHERE alert_id IN (
                SELECT id FROM alerts WHERE story_id = :s
                UNION ALL
                SELECT al.id FROM stories g JOIN alerts al ON al.story_id = g.id
                WHERE g.merged_into = :s
            )
            ORDER BY alert_id
            """,
            {"s": story_id},
        )
    )


def list_alerts(
    db: Database,
    *,
    status: str | None = None,
    rule: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """Alert history, newest first, with delivery state, from the ``alert_deliveries`` view."""
    return list(
        db.query(
            """
            SELECT * FROM alert_deliveries
            WHERE (:status IS NULL OR status = :status)
              AND (:rule IS NULL OR rule = :rule)
              AND (:channel IS NULL OR channel = :channel)
              AND (:since IS NULL OR created_at >= :since)
              AND (:until IS NULL OR created_at < :until)
            ORDER BY created_at DESC, alert_id DESC
            LIMIT :limit
            """,
            {
                "status": status,
                "rule": rule,
                "channel": channel,
                "since": since,
                "until": until,
                "limit": limit,
            },
        )
    )


def list_digests(
    db: Database,
    *,
    status: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """Digests queued (outbox rows of kind 'digest'), newest first: the channel, its schedule,
    the period it covers, how many stories and alerts it carries, and its delivery state."""
    return _outbox_rows(
        db,
        """
            SELECT al.id AS alert_id, al.created_at, al.channel, al.status, al.attempts,
                   al.last_error, al.next_attempt_at, al.sent_at, d.id AS digest_id,
                   d.schedule, d.period_start, d.period_end, d.story_count, d.alert_count
            FROM alerts al JOIN digests d ON d.id = al.digest_id
            WHERE al.kind = 'digest'
            """,
        status=status,
        channel=channel,
        since=since,
        until=until,
        limit=limit,
    )


def list_health_alerts(
    db: Database,
    *,
    status: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """Source-health and delivery-health alerts, newest first, with what each told (a feed
    failing, silent or recovered; a channel failing; dead letters) and its delivery state."""
    return _outbox_rows(
        db,
        """
            SELECT al.id AS alert_id, al.created_at, al.channel, al.status, al.attempts,
                   al.last_error, al.sent_at, he.subject, he.name, he.event, he.since, he.detail
            FROM alerts al JOIN health_events he ON he.id = al.health_event_id
            WHERE al.kind = 'health'
            """,
        status=status,
        channel=channel,
        since=since,
        until=until,
        limit=limit,
    )


def _outbox_rows(
    db: Database,
    select: str,
    *,
    status: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> list[Row]:
    """The rows of ``select`` (alerts ``al`` of one kind, its WHERE begun) that pass the
    listing's filters, newest first."""
    filters = """
              AND (:status IS NULL OR al.status = :status)
              AND (:channel IS NULL OR al.channel = :channel)
              AND (:since IS NULL OR al.created_at >= :since)
              AND (:until IS NULL OR al.created_at < :until)
            ORDER BY al.created_at DESC, al.id DESC
            LIMIT :limit
    """
    params = {"status": status, "channel": channel, "since": since, "until": until}
    return list(db.query(select + filters, {**params, "limit": limit}))


def get_alert(db: Database, alert_id: int) -> Row | None:
    """One outbox row: an article alert as the ``alert_deliveries`` view has it, else a digest
    or a health alert (the view holds article alerts only) with its kind and delivery state."""
    rows = list(db.query("SELECT * FROM alert_deliveries WHERE alert_id = ?", [alert_id]))
    if rows:
        return rows[0]
    rows = list(
        db.query(
            """
            SELECT id AS alert_id, kind, created_at, rule, channel, status, attempts,
                   last_error, next_attempt_at, sent_at, digest_id
            FROM alerts WHERE id = ? AND kind != 'article'
            """,
            [alert_id],
        )
    )
    return rows[0] if rows else None


def superseding_alert(db: Database, alert_id: int) -> int | None:
    """The sent alert of the same rule and channel about the same story, when there is one:
    two stories that each had one were merged, and the story was alerted already."""
    rows = list(
        db.query(
            """
            SELECT o.id FROM alerts al
            JOIN stories mine ON mine.id = al.story_id
            JOIN alerts o ON o.rule = al.rule AND o.channel = al.channel AND o.id != al.id
            JOIN stories theirs ON theirs.id = o.story_id
            WHERE al.id = ? AND o.status = 'sent'
              AND coalesce(theirs.merged_into, theirs.id) = coalesce(mine.merged_into, mine.id)
            ORDER BY o.sent_at, o.id LIMIT 1
            """,
            [alert_id],
        )
    )
    return int(rows[0]["id"]) if rows else None


def list_feed_health(db: Database, *, failing_only: bool = False) -> list[Row]:
    """Every feed's health, from the ``feed_health`` view; failing feeds first."""
    return list(
        db.query(
            """
            SELECT * FROM feed_health
            WHERE NOT :failing OR consecutive_failures > 0
            ORDER BY consecutive_failures DESC, name
            """,
            {"failing": int(failing_only)},
        )
    )


def store_totals(db: Database) -> Row:
    """Counts over the whole store."""
    rows = list(
        db.query(
            """
            SELECT
                (SELECT count(*) FROM articles) AS articles,
                (SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL) AS copies,
                (SELECT count(*) FROM articles WHERE pruned_at IS NOT NULL) AS bodies_pruned,
                (SELECT count(*) FROM stories WHERE merged_into IS NULL AND article_count > 0)
                    AS stories,
                (SELECT count(*) FROM stories WHERE outlet_count > 1) AS stories_multi_outlet,
                (SELECT count(DISTINCT source) FROM articles) AS sources,
                (SELECT count(*) FROM feeds) AS feeds,
                (SELECT count(*) FROM feeds WHERE consecutive_failures > 0 AND retired_at IS NULL)
                    AS feeds_failing,
                (SELECT count(*) FROM matches) AS matches,
                (SELECT count(*) FROM alerts) AS alerts,
                (SELECT count(*) FROM alerts WHERE status = 'pending') AS alerts_pending,
                (SELECT count(*) FROM alerts WHERE status = 'sent') AS alerts_sent,
                (SELECT count(*) FROM alerts WHERE status = 'dead') AS alerts_dead,
                (SELECT count(*) FROM deliveries) AS delivery_attempts,
                (SELECT min(fetched_at) FROM articles) AS first_fetched,
                (SELECT max(fetched_at) FROM articles) AS last_fetched
            """
        )
    )
    return rows[0]


def counts_per_day(db: Database, since: str) -> list[Row]:
    """Per UTC day since ``since``, newest first: articles stored, copies among them, alerts
    queued and alerts sent."""
    return list(
        db.query(
            """
            SELECT day, sum(articles) AS articles, sum(copies) AS copies,
                   sum(alerts) AS alerts, sum(sent) AS alerts_sent
            FROM (
                SELECT substr(fetched_at, 1, 10) AS day, 1 AS articles,
                       duplicate_of IS NOT NULL AS copies, 0 AS alerts, 0 AS sent
                FROM articles WHERE fetched_at >= :since
                UNION ALL
                SELECT substr(created_at, 1, 10), 0, 0, 1, status = 'sent'
                FROM alerts WHERE created_at >= :since
            )
            GROUP BY day ORDER BY day DESC
            """,
            {"since": since},
        )
    )


def schema_objects(db: Database) -> list[Row]:
    """marsad's tables and views, tables first, in creation order (FTS shadow tables and
    bookkeeping tables left out)."""
    return list(
        db.query(
            r"""
            SELECT type, name FROM sqlite_master
            WHERE type IN ('table', 'view')
              AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
              AND name NOT LIKE '\_%' ESCAPE '\'
              AND name NOT LIKE 'articles\_fts\_%' ESCAPE '\'
            ORDER BY type = 'view', rowid
            """
        )
    )


def table_columns(db: Database, name: str) -> list[Row]:
    return list(db.query("SELECT * FROM pragma_table_info(?)", [name]))


def foreign_keys(db: Database, name: str) -> list[Row]:
    return list(db.query("SELECT * FROM pragma_foreign_key_list(?)", [name]))
