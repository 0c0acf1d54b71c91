"""What the store's tables, columns and views mean: one source for Datasette's metadata
(``marsad inspect``) and for docs/schema.md (``marsad schema``), so the two cannot disagree.

The schema itself is read from a store with every migration applied, never written out by hand:
a column added by a migration shows up in the generated document whether or not it has a
description yet, and tests/test_schema_doc.py fails until docs/schema.md is regenerated.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from marsad.storage import queries

TABLES: dict[str, str] = {
    "feeds": "One row per configured feed, with its conditional-GET validators and its health.",
    "stories": "A story groups an original article and its copies; alerts are raised per story.",
    "articles": "Every stored article, in its original spelling and in normalised form.",
    "matches": "Every watch-rule hit: which keyword matched where, in the original text.",
    "alerts": (
        "The outbox: one alert per story, rule and channel, written in the same transaction "
        "as the article and sent by the delivery job."
    ),
    "deliveries": "Every attempt to deliver an alert, successful or not.",
    "cluster_progress": (
        "The cluster's writer (marsad run --role writer): how far into each Redis stream it has "
        "stored, committed with what it stored."
    ),
    "digests": (
        'One row per channel and digest period closed (a channel with digest = "hourly" or '
        '"daily HH:MM"): the outbox row of kind "digest" that sends it, and the alerts '
        "it carries, point here."
    ),
    "health_events": (
        "Source and delivery health, one row per change of state: a feed failing, silent or "
        "recovered, a channel failing or recovered, alerts gone to dead letters. Each health "
        "alert (one per [health] channel) points at its event."
    ),
    "channel_health": "Each alert channel's delivery health as last told: ok or failing.",
    "sightings": "Every time a feed listed an article the store already held (same URL or GUID).",
    "articles_fts": (
        "FTS5 index over articles.title_norm and articles.text_norm. Normalise a query with "
        "the same function before MATCH (marsad search and Datasette do)."
    ),
    "fingerprints": "A MinHash signature per article, for finding near-copies (derived data).",
    "article_shingles": (
        "Each article's shingle set, what verifying a near-copy against it compares (derived "
        "data; a set of another version is recomputed from the text)."
    ),
    "lsh_bands": "The LSH index over the signatures: one row per band key and article.",
    "lsh_recent": "Newest LSH index rows; folded into lsh_middle every 10,000 articles.",
    "lsh_middle": "Middle level of the LSH index; folded into lsh_bands every 100,000 articles.",
    "lsh_state": "One row: how many articles lsh_recent and lsh_middle hold.",
    "derived_tasks": (
        "Work a migration recorded for the application: derived data (provenance, body hash, "
        "fingerprints, index keys) to compute for stored articles. Run and cleared when the "
        "store is opened; empty otherwise."
    ),
    "store_identity": "One row: this store's random id, part of every idempotency key.",
    "alert_suppressions": (
        "Alerts a rule would have raised but that were held back (an import with alerts off, "
        "an article published outside the alert window), with the reason."
    ),
    "story_quotes": (
        "An article that also quotes another story's original: it joined one story and is "
        "listed here against the other, which stays a story of its own."
    ),
    "crosslingual_profiles": (
        "Cross-lingual linking (#17): each article of the window checked once, with what "
        "matching it across languages needs (document and paragraph vectors, anchors); a row "
        "without vectors had nothing to profile. Pruned once out of [crosslingual] window."
    ),
    "crosslingual_links": (
        "Provenance: an Arabic article translated from a non-Arabic one, with the evidence; "
        "the two stories were joined (the earliest original heads it)."
    ),
    "crosslingual_state": (
        "One row, written by the linking pass from [crosslingual]: whether linking is on "
        "(the outbox then holds an alert on an unchecked article up to hold_seconds)."
    ),
    "feed_entries": (
        "Entries of a feed not stored yet for a reason: a page fetch or store that failed "
        "(retried on later polls, up to a bound) or an entry that cannot be used (skipped)."
    ),
    "story_overview": (
        "View: each story with its original, copy and outlet counts, the outlets carrying it, "
        "the rules it matched and its alert count; merged and empty stories are left out."
    ),
    "alert_deliveries": (
        "View: each alert with its article, the outlets carrying the story, and the state of "
        "its delivery (status, attempts, last error, last attempt)."
    ),
    "feed_health": (
        "View: each feed's health: state, last fetch, last new item, items per day, "
        "consecutive failures, last error, next poll."
    ),
}

# The three levels of the copy-detection index share one shape.
_INDEX_COLUMNS = {
    "band_key": (
        "A MinHash band key (band number and rows folded together) or a content-defined chunk key."
    ),
    "article_id": "Article filed under that key.",
}

COLUMNS: dict[str, dict[str, str]] = {
    "feeds": {
        "id": "Feed id.",
        "name": "Name from the config ([[feeds]] name).",
        "url": "Feed URL.",
        "etag": "ETag of the last 200 response, sent back as If-None-Match.",
        "last_modified": "Last-Modified of the last 200 response, sent as If-Modified-Since.",
        "body_hash": "Hash of the last body, to spot an unchanged feed served without a 304.",
        "last_fetch_at": "When the feed was last fetched (UTC), successfully or not.",
        "last_success_at": "When the feed was last fetched successfully.",
        "last_new_item_at": "When a fetch last brought an article the store did not hold.",
        "last_status": "HTTP status of the last fetch (null on a network error).",
        "consecutive_failures": "Failed fetches since the last success.",
        "last_error": "Why the last fetch failed (cleared by a success).",
        "backoff_until": "No fetch before this time, after failures.",
        "next_poll_at": "When the scheduler will next fetch the feed.",
        "fetch_count": "Fetches ever made.",
        "items_total": "New articles ever found in this feed.",
        "created_at": "When the feed was first registered.",
        "retired_at": "When the feed left the config: kept for history, never counted failing.",
        "failures_since": "First failure of the current run of failures (null after a success).",
        "health": (
            '"ok", "failing" or "silent": the state last told on the [health] channels (one '
            "alert on entering it, one on recovering)."
        ),
        "health_since": (
            "Since when that state holds: failing, the first failure; silent, the last time "
            "something new arrived."
        ),
        "health_changed_at": "When marsad noticed the change of state and raised its alert.",
        "watched_since": (
            "When the feed's first reading ended: arrivals after it make its publishing rate."
        ),
        "poll_every": "The interval (seconds) its job runs at now: adaptive, or its fixed every.",
        "poll_reason": 'Why that interval: "45m: 9 new in 7d", "2h: ttl", "fixed", ...',
        "hint_every": (
            "The feed's own shortest interval (seconds), from its <ttl> or sy:updatePeriod/"
            "updateFrequency, kept from its last read body (a 304 says nothing of them); "
            "each answer's Cache-Control max-age, Expires or Retry-After counts for its poll."
        ),
        "hint_reason": 'Which element said so, as read ("ttl 60m").',
        "poll_stretch": (
            "Factor on the adaptive interval: grows while polls find nothing new, shrinks when "
            "a poll finds nothing it knew (entries may have been missed)."
        ),
    },
    "stories": {
        "id": "Story id.",
        "original_id": (
            "The article the others are copies of: the earliest-published that holds the "
            "story's text."
        ),
        "title": "Title of the story's original (it moves with the original).",
        "first_seen": "When the first article of the story was stored.",
        "last_seen": "When the latest article (copy) of the story was stored.",
        "article_count": "Articles in the story: the original and its copies.",
        "outlet_count": "Distinct sources carrying the story.",
        "sources": "Those sources, as a JSON list.",
        "merged_into": (
            "Set when the story turned out to be part of another: its articles, alerts, "
            "held-back alerts and quotes moved there."
        ),
        "pruned_at": (
            "When the bodies of all its articles were pruned ([retention] bodies); the story, "
            "its articles' rows, matches and alerts stay."
        ),
    },
    "articles": {
        "id": "Article id.",
        "canonical_url": "URL without tracking parameters; one row per canonical URL.",
        "url": "URL as the feed or import gave it.",
        "guid": "The feed entry's GUID, if any.",
        "feed_id": "Feed it came from (null for imported articles).",
        "source": "Outlet name (the feed's name, or the import's source field).",
        "title": "Title as published.",
        "text": "Body text as extracted (or the feed summary when extraction failed).",
        "title_norm": "normalize(title): what search and matching compare.",
        "text_norm": "normalize(text): what search and matching compare.",
        "author": "Author, when known.",
        "published": "Publication time (UTC) as the outlet states it.",
        "language": "Language code, when known.",
        "extraction": 'Where the text came from: "page", "feed" or "import".',
        "body_hash": "Hash of the normalised body: equal hashes are exact copies.",
        "story_id": "Story the article belongs to.",
        "duplicate_of": "For a copy, the article it copies; null for an original.",
        "similarity": "For a copy, how similar it is to the original (1.0 = identical).",
        "dup_evidence": "For a copy, JSON saying which check decided it.",
        "fetched_at": "When marsad stored the article (UTC).",
        "provenance": "JSON: credit lines and boilerplate a re-poster wrapped around the text.",
        "pruned_at": (
            "When its body was pruned ([retention] bodies): text and text_norm emptied, body_hash "
            'prefixed "pruned:", its fingerprint, shingle set and index rows removed, so it is '
            "no longer a copy-detection candidate; found by URL, GUID and title as before."
        ),
    },
    "fingerprints": {
        "article_id": "Article fingerprinted.",
        "shingles": "Size of the shingle set the signature summarises.",
        "signature": "MinHash signature.",
    },
    "article_shingles": {
        "article_id": "Article whose body was shingled.",
        "version": "Version of the credit, normalisation and shingle rules that computed it.",
        "hashes": "Its distinct shingle hashes, sorted, as little-endian uint64 (8 bytes each).",
    },
    **dict.fromkeys(("lsh_recent", "lsh_middle", "lsh_bands"), _INDEX_COLUMNS),
    "lsh_state": {
        "id": "Always 1.",
        "recent_articles": "Articles in lsh_recent since its last fold.",
        "middle_articles": "Articles in lsh_middle since its last fold.",
    },
    "derived_tasks": {
        "name": '"index_articles": articles without a fingerprint get their derived data.',
        "recorded_at": "When the migration recorded it (UTC).",
    },
    "matches": {
        "id": "Match id.",
        "article_id": "Article that matched.",
        "rule": "Watch-rule name from the config.",
        "keyword": "The rule's keyword that matched.",
        "field": '"title" or "body": which the offsets count in.',
        "start": "Character offset of the hit in the original field.",
        "end": "Character offset just after the hit.",
        "surface": "The hit as spelt in the article.",
        "snippet": "Text around the hit.",
    },
    "alerts": {
        "id": "Alert id (marsad alerts retry ID).",
        "article_id": "Article that raised the alert.",
        "story_id": "Story alerted on; one alert per story, rule, channel and follow_up threshold.",
        "rule": "Watch rule that matched.",
        "channel": "Channel name from the config.",
        "idempotency_key": "Stable key sent with every attempt, so receivers can drop repeats.",
        "payload": "JSON body: the article and its matches.",
        "status": (
            '"pending", "held" (an article alert waiting for its channel\'s digest), "sent" or '
            '"dead" (gave up).'
        ),
        "attempts": "Delivery attempts made.",
        "next_attempt_at": "When a pending alert is next tried.",
        "last_error": "Why the last attempt failed.",
        "created_at": "When the alert was queued (UTC).",
        "sent_at": "When it was delivered.",
        "claimed_by": "The delivery pass sending it now (null when none is).",
        "lease_until": "The claim lapses at this time, so a pass that died lets another send it.",
        "kind": (
            '"article" (a watch rule matched an article of a story) or "health" (a feed or '
            "channel changed state, alerts went to dead letters: see health_event_id) or "
            '"digest" (a period\'s stories for one channel: see digest_id).'
        ),
        "health_event_id": "For a health alert, the event it tells (health_events).",
        "dead_noticed": "A dead article alert already told in a dead-letters health alert.",
        "digest_id": (
            'For a digest (kind "digest"), the digest it sends; for an article alert of a '
            "digest channel, the digest it went out in (digests)."
        ),
        "follow_up": (
            "0 for a rule's first alert on a story; for a follow-up (the rule's follow_up), the "
            "outlet count it tells the story reached: one alert per story, rule, channel and "
            "follow_up."
        ),
    },
    "cluster_progress": {
        "stream": "The Redis stream's key (P:items).",
        "last_id": "The id of the last message stored from it.",
        "updated_at": "When (UTC).",
    },
    "digests": {
        "id": "Digest id.",
        "channel": "Channel name from the config.",
        "schedule": 'The channel\'s schedule when the period closed: "daily 07:00 Asia/Riyadh".',
        "period_start": "The period's first instant (UTC).",
        "period_end": "Just after its last instant (UTC): the digest is due from then.",
        "story_count": "Stories the digest lists (those past the limit are counted).",
        "alert_count": "Alerts it carries.",
        "created_at": "When the period was closed (UTC).",
    },
    "health_events": {
        "id": "Event id.",
        "subject": '"feed", "channel" or "delivery".',
        "name": "The feed's or channel's name (\"dead letters\" for delivery).",
        "event": '"failing", "silent", "recovered" or "dead_letters".',
        "since": "When the state began (first failure, last new item).",
        "detail": "The last error, or what happened, for people.",
        "facts": "JSON: the figures behind the decision (failures, thresholds, gap, ...).",
        "created_at": "When marsad noticed it and queued its alerts.",
    },
    "channel_health": {
        "channel": "Channel name from the config.",
        "state": '"ok" or "failing" (every send failed for [health] channel_failing_after).',
        "since": "First failed attempt of the current run of failures.",
        "changed_at": "When marsad noticed the change of state.",
        "last_error": "Why the last attempt failed.",
    },
    "deliveries": {
        "id": "Attempt id.",
        "alert_id": "Alert attempted.",
        "attempted_at": "When (UTC).",
        "ok": "1 if delivered.",
        "status_code": "HTTP status or SMTP reply code, when there was one.",
        "error": "What went wrong.",
        "duration_ms": "How long the attempt took.",
    },
    "sightings": {
        "id": "Sighting id.",
        "article_id": "Article already held.",
        "feed_id": "Feed that listed it again.",
        "url": "URL as listed.",
        "reason": '"url" or "guid": how it was recognised.',
        "seen_at": "When (UTC).",
    },
    "store_identity": {
        "id": "Always 1.",
        "store_id": "Random id created by migration 0006; part of every idempotency key.",
        "created_at": "When it was created (UTC).",
    },
    "alert_suppressions": {
        "id": "Suppression id.",
        "article_id": "Article that matched.",
        "story_id": "Its story.",
        "rule": "Watch rule that matched.",
        "channel": "Channel the alert would have gone to.",
        "reason": "Why it was held back.",
        "created_at": "When (UTC).",
    },
    "story_quotes": {
        "article_id": "Article that also quotes the story.",
        "story_id": "The story it quotes but did not join.",
        "similarity": "Containment of that story's original in the article.",
        "evidence": "JSON: the check that found it.",
    },
    "crosslingual_profiles": {
        "seq": "Grows with every row written (the worker reads what is new since it looked).",
        "article_id": "Article checked.",
        "language": '"ar", "other", or null: nothing to profile (too short, mixed scripts).',
        "model": "Model and settings the vectors were made with; others are never compared.",
        "doc_vector": "Whole-document vector: float32 little-endian, L2-normalised.",
        "paragraph_vectors": "One float32 vector per paragraph encoded, one after the other.",
        "paragraph_count": "How many paragraph vectors.",
        "anchors": "Numbers and Latin designations, normalised, in document order.",
        "run_on": "1: a run-on text (no paragraph breaks), its vectors one per sentence.",
        "fetched_at": "The article's fetch time (UTC): the window counts from it.",
        "checked_at": "When it was checked (UTC).",
    },
    "crosslingual_links": {
        "id": "Link id.",
        "translation_id": "The Arabic article (linked once).",
        "original_id": "The article it was translated from.",
        "score": "The verdict's score.",
        "evidence": "JSON: document similarity, matched paragraphs, coverage, anchors.",
        "story_id": "The story the two joined.",
        "merged_story_id": "The story merged into it.",
        "linked_at": "When (UTC).",
    },
    "crosslingual_state": {
        "id": "Always 1.",
        "active_since": "Linking on since (UTC); null: off, or auto with no non-Arabic article.",
        "hold_seconds": "How long an alert on an unchecked article waits for its check.",
        "window_seconds": "How long articles stay candidates.",
        "sniffed_through": "Auto mode: the last article whose script was looked at.",
        "updated_at": "When the row was last written (UTC).",
    },
    "feed_entries": {
        "feed_id": "Feed listing the entry.",
        "entry_key": "The entry's identity: its canonical link, its GUID, or a content hash.",
        "url": "The entry's link, if any.",
        "state": '"retrying" (failed, tried again on later polls), "skipped" or "gave_up".',
        "reason": "Why it is not stored.",
        "attempts": "Attempts to fetch and store it.",
        "first_seen_at": "When a poll first listed it (UTC).",
        "last_attempt_at": "The latest attempt.",
    },
    "story_overview": {
        "story_id": "Story id.",
        "title": "The original's title.",
        "original_id": "The article the others are copies of.",
        "original_source": "Outlet of the original.",
        "original_url": "URL of the original.",
        "original_published": "When the original was published (or stored).",
        "article_count": "Articles in the story.",
        "copy_count": "Copies: articles other than the original.",
        "outlet_count": "Distinct outlets carrying the story.",
        "outlets": "Those outlets, comma-separated.",
        "first_seen": "When the story was first stored.",
        "last_seen": "When its latest article was stored.",
        "rules": "Watch rules any of its articles matched, comma-separated.",
        "alert_count": "Alerts queued for the story (all channels), with its merged stories'.",
    },
    "alert_deliveries": {
        "alert_id": "Alert id.",
        "created_at": "When the alert was queued (UTC).",
        "rule": "Watch rule.",
        "channel": "Channel.",
        "status": '"pending", "sent" or "dead".',
        "attempts": "Delivery attempts made.",
        "last_error": "Why the last attempt failed.",
        "next_attempt_at": "When a pending alert is next tried.",
        "sent_at": "When it was delivered.",
        "story_id": "The story its article is part of now.",
        "article_id": "Article that raised it.",
        "title": "That article's title.",
        "source": "That article's outlet.",
        "url": "That article's URL.",
        "published": "When it was published (or stored).",
        "outlet_count": "Outlets now carrying the story.",
        "outlets": "Those outlets: who else carried it.",
        "delivery_count": "Rows in deliveries for this alert.",
        "last_attempt_at": "When delivery was last attempted.",
        "last_status_code": "Status code of the last attempt.",
        "digest_id": "The digest the alert went out in, for a digest channel (digests).",
    },
    "feed_health": {
        "feed_id": "Feed id.",
        "name": "Feed name.",
        "url": "Feed URL.",
        "state": (
            '"ok", "failing" (its fetches fail), "incomplete" (entries it lists are not stored: '
            'retrying or given up), "never fetched" or "retired" (no longer in the config).'
        ),
        "last_fetch_at": "Last fetch (UTC).",
        "last_success_at": "Last successful fetch.",
        "last_new_item_at": "Last fetch that brought a new article.",
        "last_status": "HTTP status of the last fetch.",
        "consecutive_failures": "Failed fetches since the last success.",
        "last_error": "Why the last fetch failed.",
        "backoff_until": "No fetch before this time.",
        "next_poll_at": "Next scheduled fetch.",
        "fetch_count": "Fetches ever made.",
        "items_total": "New articles ever found.",
        "articles_stored": "Articles in the store from this feed.",
        "items_per_day": "New articles a day over the last 7 days (or since the feed was added).",
        "entries_retrying": "Entries it lists not stored yet, tried again on later polls.",
        "entries_skipped": "Entries it lists that cannot be used (feed_entries says why).",
        "entries_gave_up": "Entries never stored after every retry (feed_entries says why).",
        "retired_at": "When the feed left the config (kept for history, never failing).",
    },
}

LABEL_COLUMNS = {"feeds": "name", "stories": "title", "articles": "title"}

# Canned queries: the questions people open the store to ask. Each reads a view of 0003 or the
# search functions the Datasette plugin registers, so it matches what the CLI answers.
CANNED_QUERIES: dict[str, dict[str, Any]] = {
    "latest_alerts": {
        "title": "Latest alerts",
        "description": (
            "Alerts queued since a day (default: today, UTC), newest first, with who else "
            "carried the story."
        ),
        "sql": """SELECT alert_id, created_at, rule, channel, status, title, source,
       outlet_count, outlets, attempts, last_error, story_id
FROM alert_deliveries
WHERE created_at >= coalesce(nullif(:since, ''), strftime('%Y-%m-%d', 'now'))
ORDER BY created_at DESC, alert_id DESC
LIMIT 200""",
    },
    "stories_with_most_outlets": {
        "title": "Stories with the most outlets",
        "description": "Stories carried by the most outlets, then the most copies.",
        "sql": """SELECT story_id, title, outlet_count, article_count, copy_count, outlets,
       rules, first_seen, last_seen
FROM story_overview
ORDER BY outlet_count DESC, article_count DESC, last_seen DESC
LIMIT 100""",
    },
    "failing_feeds": {
        "title": "Failing feeds",
        "description": (
            "Feeds whose last fetch failed or that owe entries they could not store, worst "
            "first (retired feeds are left out)."
        ),
        "sql": """SELECT name, url, state, consecutive_failures, last_error, last_status,
       last_fetch_at, last_success_at, backoff_until, next_poll_at
FROM feed_health
WHERE state IN ('failing', 'incomplete')
ORDER BY consecutive_failures DESC, name""",
    },
    "search_articles": {
        "title": "Search articles",
        "description": (
            'Arabic-aware full-text search: hamza and diacritics are ignored. "a phrase", '
            "prefix*, and OR work as in marsad search."
        ),
        # The SQL is long and not the point of this page; "show" reveals it.
        "hide_sql": True,
        # The first branch turns a malformed query into one row saying what is wrong; the
        # second is the search itself (marsad_fts matches nothing for such a query).
        "sql": """SELECT NULL AS id, marsad_search_problem(:q) AS title, NULL AS source,
       NULL AS published, NULL AS snippet, NULL AS story_id, NULL AS outlet_count,
       NULL AS url
WHERE marsad_search_problem(:q) IS NOT NULL
UNION ALL
SELECT * FROM (
  SELECT a.id, a.title, a.source,
         coalesce(a.published, a.fetched_at) AS published,
         marsad_snippet(a.text, :q) AS snippet,
         a.story_id, s.outlet_count, a.url
  FROM articles_fts
  JOIN articles a ON a.id = articles_fts.rowid
  JOIN stories s ON s.id = a.story_id
  WHERE articles_fts MATCH marsad_fts(:q)
  ORDER BY bm25(articles_fts, 5.0, 1.0), a.id
  LIMIT 100
)""",
    },
}


def datasette_metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for a store served under the name ``database``."""
    tables: dict[str, Any] = {}
    for name, description in TABLES.items():
        entry: dict[str, Any] = {"description": description}
        if name in COLUMNS:
            entry["columns"] = COLUMNS[name]
        if name in LABEL_COLUMNS:
            entry["label_column"] = LABEL_COLUMNS[name]
        tables[name] = entry
    tables["articles"].update({"fts_table": "articles_fts", "fts_pk": "id"})
    tables["articles_fts"]["hidden"] = True
    return {
        "title": "marsad (مرصد)",
        "description": (
            "Arabic news watched by marsad: articles, stories (an original and its copies), "
            "watch-rule alerts and feed health. Read-only."
        ),
        "databases": {
            database: {
                "description": "The marsad store. Start with the canned queries below.",
                "tables": tables,
                "queries": CANNED_QUERIES,
            }
        },
    }


def schema_markdown(db: Database) -> str:
    """docs/schema.md, from the schema of ``db`` and the descriptions above."""
    lines = [
        "# The marsad store",
        "",
        "<!-- Generated by `marsad schema` from the migrated schema and",
        "     marsad/inspect/metadata.py; tests/test_schema_doc.py fails when it is stale. -->",
        "",
        "SQLite, WAL mode. Times are ISO-8601 UTC strings (`2024-05-01T08:30:00Z`). Browse it with",
        "`marsad inspect` (Datasette, read-only) or query it with `sqlite3`/`sqlite-utils`;",
        "the views at the end answer the common questions without joins.",
        "",
    ]
    for obj in queries.schema_objects(db):
        name = obj["name"]
        kind = "View" if obj["type"] == "view" else "Table"
        lines += [f"## {kind} `{name}`", "", TABLES.get(name, "(not yet described)"), ""]
        fks = {fk["from"]: f"{fk['table']}.{fk['to']}" for fk in queries.foreign_keys(db, name)}
        lines += ["| column | type | description |", "| --- | --- | --- |"]
        for col in queries.table_columns(db, name):
            notes = []
            if col["pk"]:
                notes.append("primary key")
            if col["notnull"]:
                notes.append("not null")
            if col["name"] in fks:
                notes.append(f"→ {fks[col['name']]}")
            kind_text = " ".join([col["type"] or "", *[f"({n})" for n in notes]]).strip()
            described = COLUMNS.get(name, {}).get(col["name"], "")
            lines.append(f"| `{col['name']}` | {kind_text} | {described} |")
        lines.append("")
    return "\n".join(lines)
