"""The schema, as an append-only list of migrations.

Never edit a migration that has shipped: append a new one. Each runs in a transaction together
with the record that it ran, so applying the list twice is a no-op. A migration is frozen
history: plain SQL (and sqlite-utils), never today's application code, so replaying it on an
old store gives the same result next year (tests/test_migrations.py checks the imports). Data
derived by application code is computed by :mod:`storage.derived` on a migration's record.
"""

from __future__ import annotations

import re

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("marsad")


@migrations(name="0001_foundation")
def m0001_foundation(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            last_fetch_at TEXT,
            last_success_at TEXT,
            last_new_item_at TEXT,
            last_status INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            backoff_until TEXT,
            next_poll_at TEXT,
            fetch_count INTEGER NOT NULL DEFAULT 0,
            items_total INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );

        -- A story groups an original article and its copies; alerts are raised per story.
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            original_id INTEGER,
            title TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            article_count INTEGER NOT NULL DEFAULT 1,
            outlet_count INTEGER NOT NULL DEFAULT 1
        );

        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            canonical_url TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            guid TEXT,
            feed_id INTEGER REFERENCES feeds(id),
            source TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            title_norm TEXT NOT NULL DEFAULT '',
            text_norm TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TEXT,
            language TEXT,
            extraction TEXT NOT NULL,
            body_hash TEXT NOT NULL,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            duplicate_of INTEGER REFERENCES articles(id),
            similarity REAL,
            dup_evidence TEXT,
            fetched_at TEXT NOT NULL
        );
        CREATE INDEX articles_guid ON articles(guid) WHERE guid IS NOT NULL;
        CREATE INDEX articles_body_hash ON articles(body_hash);
        CREATE INDEX articles_story ON articles(story_id);
        CREATE INDEX articles_published ON articles(published);
        CREATE INDEX articles_fetched ON articles(fetched_at);

        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            rule TEXT NOT NULL,
            keyword TEXT NOT NULL,
            field TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            surface TEXT NOT NULL,
            snippet TEXT NOT NULL
        );
        CREATE INDEX matches_article ON matches(article_id);
        CREATE INDEX matches_rule ON matches(rule);

        -- The outbox: written in the same transaction as the article, sent by the delivery job.
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            rule TEXT NOT NULL,
            channel TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (story_id, rule, channel)
        );
        CREATE INDEX alerts_due ON alerts(status, next_attempt_at);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            attempted_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            status_code INTEGER,
            error TEXT,
            duration_ms INTEGER NOT NULL
        );
        CREATE INDEX deliveries_alert ON deliveries(alert_id);

        -- Every time a feed lists an article the store already holds (same URL or GUID).
        CREATE TABLE sightings (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            feed_id INTEGER REFERENCES feeds(id),
            url TEXT NOT NULL,
            reason TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX sightings_article ON sightings(article_id);
        """
    )
    # FTS5 over the normalised columns: SQLite's own diacritic folding does not cover Arabic.
    db.table("articles").enable_fts(
        ["title_norm", "text_norm"], fts_version="FTS5", create_triggers=True
    )


@migrations(name="0002_copy_detection")
def m0002_copy_detection(db: Database) -> None:
    # One statement at a time: executescript() would commit the migration's transaction.
    for statement in (
        # What a re-poster wrapped around the text: {"credits": [...], "boilerplate": [...]}.
        "ALTER TABLE articles ADD COLUMN provenance TEXT",
        # The distinct outlets carrying a story, as a JSON list, kept by refresh_story().
        "ALTER TABLE stories ADD COLUMN sources TEXT",
        # Set when an article proved two stories to be one (an excerpt arrived before its
        # original): the articles moved to this story; alerts already queued stay as they are.
        "ALTER TABLE stories ADD COLUMN merged_into INTEGER REFERENCES stories(id)",
        # A MinHash signature per article and the size of the shingle set it summarises (to
        # turn estimated Jaccard into containment). Derived data: no foreign key, so deleting
        # an article is not slowed or blocked by it.
        """
        CREATE TABLE fingerprints (
            article_id INTEGER PRIMARY KEY,
            shingles INTEGER NOT NULL,
            signature BLOB NOT NULL
        )
        """,
        # The LSH index: one row per (band key, article). The band number is folded into the
        # key, so one B-tree seek per band finds every article sharing it; WITHOUT ROWID
        # keeps the rows in that B-tree instead of a table plus an index.
        """
        CREATE TABLE lsh_bands (
            band_key INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (band_key, article_id)
        ) WITHOUT ROWID
        """,
    ):
        db.execute(statement)
    # Articles stored before this migration get their provenance, body hash and fingerprint
    # from the application (storage/derived.py, on 0005's record), not from here: a migration
    # must give the same result next year, and the fingerprint code will change.


@migrations(name="0003_inspection_views")
def m0003_inspection_views(db: Database) -> None:
    # Read-only views for the common questions, so sqlite3, sqlite-utils and Datasette users get
    # the answers `marsad stories|alerts|feeds` give without knowing the joins. They name only
    # columns of 0001. A later migration that rebuilds a table they read (sqlite-utils
    # transform) must drop and re-create them: SQLite refuses to rename a table under a view.
    # One statement at a time: executescript() would commit the migration's transaction.
    for statement in _INSPECTION_VIEWS:
        db.execute(statement)


@migrations(name="0004_lsh_staging")
def m0004_lsh_staging(db: Database) -> None:
    # New index rows go to a small table, folded in key order into a middle one, folded in turn
    # into lsh_bands (see storage/lsh.py): at a million articles, writing each article's ~50
    # random keys straight into the big B-tree made import disk-bound.
    for statement in (
        *(
            f"""
            CREATE TABLE {table} (
                band_key INTEGER NOT NULL,
                article_id INTEGER NOT NULL,
                PRIMARY KEY (band_key, article_id)
            ) WITHOUT ROWID
            """
            for table in ("lsh_recent", "lsh_middle")
        ),
        # One row: how many articles each level holds (a count(*) would scan it each time).
        """
        CREATE TABLE lsh_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            recent_articles INTEGER NOT NULL,
            middle_articles INTEGER NOT NULL
        )
        """,
        "INSERT INTO lsh_state (id, recent_articles, middle_articles) VALUES (1, 0, 0)",
    ):
        db.execute(statement)


@migrations(name="0005_derived_data_tasks")
def m0005_derived_data_tasks(db: Database) -> None:
    # Derived data (provenance, body hash, fingerprint, index keys) is computed by the
    # application, which knows today's code; a migration only records that it is needed, and
    # the store's opener (storage/db.py) runs what is recorded. One row per task; none at all
    # on a store whose every article has its fingerprint, so opening one costs a lookup.
    for statement in (
        """
        CREATE TABLE derived_tasks (
            name TEXT PRIMARY KEY,
            recorded_at TEXT NOT NULL
        )
        """,
        # Articles of a store from before 0002 have no fingerprint.
        """
        INSERT INTO derived_tasks (name, recorded_at)
        SELECT 'index_articles', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
        WHERE EXISTS (
            SELECT 1 FROM articles a
            WHERE NOT EXISTS (SELECT 1 FROM fingerprints f WHERE f.article_id = a.id)
        )
        """,
    ):
        db.execute(statement)


@migrations(name="0006_trust")
def m0006_trust(db: Database) -> None:
    for statement in (
        # One row: this store's own random identity, part of every idempotency key, so two
        # stores posting to one receiver never send the same key for different alerts.
        """
        CREATE TABLE store_identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            store_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        INSERT INTO store_identity (id, store_id, created_at)
        VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        """,
        # A delivery pass claims an alert before sending it: who claimed it, and until when
        # the claim holds (a pass that died lets its claims lapse and another sends them).
        "ALTER TABLE alerts ADD COLUMN claimed_by TEXT",
        "ALTER TABLE alerts ADD COLUMN lease_until TEXT",
        # An alert a rule would have raised but that was held back (an import with alerts
        # off, an article published outside the alert window): kept so a person can see it.
        """
        CREATE TABLE alert_suppressions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            rule TEXT NOT NULL,
            channel TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (article_id, rule, channel)
        )
        """,
        "CREATE INDEX alert_suppressions_story ON alert_suppressions(story_id)",
        # An article that also quotes another story's original (a roundup of two wire texts):
        # it joins one story and is listed here against the other, which stays separate.
        """
        CREATE TABLE story_quotes (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            similarity REAL NOT NULL,
            evidence TEXT,
            PRIMARY KEY (article_id, story_id)
        )
        """,
        "CREATE INDEX story_quotes_story ON story_quotes(story_id)",
        # Set when a feed is no longer in the config: kept for history, never counted failing.
        "ALTER TABLE feeds ADD COLUMN retired_at TEXT",
        # The entries of a feed that are not stored yet for a reason: a page fetch or a store
        # that failed (retried on later polls, up to a bound) or an entry that cannot be used
        # (skipped, with the reason). A feed is "unchanged" only when none is being retried.
        """
        CREATE TABLE feed_entries (
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            entry_key TEXT NOT NULL,
            url TEXT,
            state TEXT NOT NULL CHECK (state IN ('retrying', 'skipped', 'gave_up')),
            reason TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            first_seen_at TEXT NOT NULL,
            last_attempt_at TEXT NOT NULL,
            PRIMARY KEY (feed_id, entry_key)
        )
        """,
    ):
        db.execute(statement)


@migrations(name="0008_stories")
def m0008_stories(db: Database) -> None:
    # A merged story is empty and part of another: the views show the story it became part of
    # (story_overview leaves merged and empty stories out; alert_deliveries lists an alert
    # under the story holding its article). Frozen here; 0003's views are the ones replaced.
    for statement in (
        # Finding the stories merged into one (views, repairs) without scanning them all.
        "CREATE INDEX stories_merged_into ON stories(merged_into) WHERE merged_into IS NOT NULL",
        "DROP VIEW IF EXISTS story_overview",
        """
        CREATE VIEW story_overview AS
        SELECT
            s.id AS story_id,
            coalesce(o.title, s.title) AS title,
            s.original_id,
            o.source AS original_source,
            o.url AS original_url,
            coalesce(o.published, o.fetched_at) AS original_published,
            s.article_count,
            max(s.article_count - 1, 0) AS copy_count,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            s.first_seen,
            s.last_seen,
            (SELECT group_concat(rule, ', ') FROM (
                SELECT DISTINCT m.rule FROM matches m JOIN articles x ON x.id = m.article_id
                WHERE x.story_id = s.id ORDER BY m.rule)) AS rules,
            (SELECT count(*) FROM alerts al WHERE al.story_id = s.id)
                + (SELECT count(*) FROM stories g JOIN alerts al ON al.story_id = g.id
                   WHERE g.merged_into = s.id) AS alert_count
        FROM stories s
        LEFT JOIN articles o ON o.id = s.original_id
        WHERE s.merged_into IS NULL AND s.article_count > 0
        """,
        "DROP VIEW IF EXISTS alert_deliveries",
        """
        CREATE VIEW alert_deliveries AS
        SELECT
            al.id AS alert_id,
            al.created_at,
            al.rule,
            al.channel,
            al.status,
            al.attempts,
            al.last_error,
            al.next_attempt_at,
            al.sent_at,
            s.id AS story_id,
            al.article_id,
            a.title,
            a.source,
            a.url,
            coalesce(a.published, a.fetched_at) AS published,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            (SELECT count(*) FROM deliveries d WHERE d.alert_id = al.id) AS delivery_count,
            (SELECT max(d.attempted_at) FROM deliveries d WHERE d.alert_id = al.id)
                AS last_attempt_at,
            (SELECT d.status_code FROM deliveries d WHERE d.alert_id = al.id
                ORDER BY d.attempted_at DESC, d.id DESC LIMIT 1) AS last_status_code
        FROM alerts al
        JOIN articles a ON a.id = al.article_id
        JOIN stories held ON held.id = al.story_id
        JOIN stories s ON s.id = coalesce(held.merged_into, held.id)
        """,
        # Earlier versions merged stories but left their alerts (and held-back alerts) on the
        # emptied story, and chained merges: storage/derived.py moves them.
        """
        INSERT INTO derived_tasks (name, recorded_at)
        SELECT 'repair_merged_stories', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
        WHERE EXISTS (
            SELECT 1 FROM stories s WHERE s.merged_into IS NOT NULL AND (
                EXISTS (SELECT 1 FROM alerts al WHERE al.story_id = s.id)
                OR EXISTS (SELECT 1 FROM alert_suppressions x WHERE x.story_id = s.id)
                OR EXISTS (SELECT 1 FROM story_quotes q WHERE q.story_id = s.id)
                OR EXISTS (SELECT 1 FROM stories t
                           WHERE t.id = s.merged_into AND t.merged_into IS NOT NULL)
            )
        )
        """,
    ):
        db.execute(statement)


@migrations(name="0009_feeds")
def m0009_feeds(db: Database) -> None:
    # feed_health says what is retired (no longer in the config: never failing) and what is
    # incomplete (entries the feed lists that are not stored: retrying, or given up), with the
    # entries retrying, skipped and given up. Frozen here; 0003's view is the one it replaces.
    for statement in (
        "DROP VIEW IF EXISTS feed_health",
        """
        CREATE VIEW feed_health AS
        SELECT
            f.id AS feed_id,
            f.name,
            f.url,
            CASE
                WHEN f.retired_at IS NOT NULL THEN 'retired'
                WHEN f.last_fetch_at IS NULL THEN 'never fetched'
                WHEN f.consecutive_failures > 0 THEN 'failing'
                WHEN coalesce(e.retrying, 0) + coalesce(e.gave_up, 0) > 0 THEN 'incomplete'
                ELSE 'ok'
            END AS state,
            f.last_fetch_at,
            f.last_success_at,
            f.last_new_item_at,
            f.last_status,
            f.consecutive_failures,
            f.last_error,
            f.backoff_until,
            f.next_poll_at,
            f.fetch_count,
            f.items_total,
            (SELECT count(*) FROM articles x WHERE x.feed_id = f.id) AS articles_stored,
            -- Over the last 7 days, or since the feed was added if that is sooner (at least a
            -- day, so a feed added an hour ago does not report 24 times its real rate).
            round(
                (SELECT count(*) FROM articles x WHERE x.feed_id = f.id
                    AND x.fetched_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days'))
                / max(min(julianday('now') - julianday(f.created_at), 7.0), 1.0),
                1
            ) AS items_per_day,
            coalesce(e.retrying, 0) AS entries_retrying,
            coalesce(e.skipped, 0) AS entries_skipped,
            coalesce(e.gave_up, 0) AS entries_gave_up,
            f.retired_at
        FROM feeds f
        LEFT JOIN (
            SELECT feed_id,
                sum(state = 'retrying') AS retrying,
                sum(state = 'skipped') AS skipped,
                sum(state = 'gave_up') AS gave_up
            FROM feed_entries GROUP BY feed_id
        ) e ON e.feed_id = f.id
        """,
    ):
        db.execute(statement)


@migrations(name="0010_shingles")
def m0010_shingles(db: Database) -> None:
    # What verifying a copy compares, kept with each article instead of recomputed from its
    # text for every candidate: the distinct shingle hashes of its body (credits cut out,
    # normalised), sorted, as little-endian 64-bit integers, and the version of the rules that
    # computed them (a set of another version is recomputed, not trusted). Derived data, as
    # fingerprints: no foreign key.
    for statement in (
        """
        CREATE TABLE article_shingles (
            article_id INTEGER PRIMARY KEY,
            version INTEGER NOT NULL,
            hashes BLOB NOT NULL
        )
        """,
        # Stories stored before this migration: their originals' sets are computed by the
        # application (storage/shingles.py). Not in a store from before 0002, whose articles
        # have no fingerprint yet (0005's task gives them theirs): its originals' sets are
        # computed from their texts when compared, as an article's without a set always is.
        """
        INSERT INTO derived_tasks (name, recorded_at)
        SELECT 'fill_shingles', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
        WHERE EXISTS (
            SELECT 1 FROM stories s JOIN fingerprints f ON f.article_id = s.original_id
        )
        """,
    ):
        db.execute(statement)


@migrations(name="0012_retention")
def m0012_retention(db: Database) -> None:
    # [retention] (storage/retention.py): an article whose body was pruned keeps its row (title,
    # URLs, source, dates, story, copy evidence, provenance) with its text emptied and the time
    # it was pruned; a story is marked once all its articles are.
    for statement in (
        "ALTER TABLE articles ADD COLUMN pruned_at TEXT",
        "ALTER TABLE stories ADD COLUMN pruned_at TEXT",
        # What a prune walks, oldest activity first: a pruned or merged story leaves the index,
        # so a daily prune starts at the first story still holding bodies instead of scanning
        # every story pruned before.
        "CREATE INDEX stories_unpruned ON stories(last_seen) "
        "WHERE pruned_at IS NULL AND merged_into IS NULL",
        # Sightings and delivery attempts are pruned oldest first, by time.
        "CREATE INDEX sightings_seen ON sightings(seen_at)",
        "CREATE INDEX deliveries_attempted ON deliveries(attempted_at)",
    ):
        db.execute(statement)


@migrations(name="0011_search_vocabulary")
def m0011_search_vocabulary(db: Database) -> None:
    # The words of the search index, in order: a search for a dictionary form (مسجد) looks
    # up, in ranges, the words that may be its forms (المساجد) and keeps those the watch-rule
    # analysis accepts. A view of articles_fts's own index: nothing stored, nothing to fill.
    db.execute("CREATE VIRTUAL TABLE articles_fts_vocab USING fts5vocab(articles_fts, 'row')")


@migrations(name="0013_source_health")
def m0013_source_health(db: Database) -> None:
    # Source health and adaptive polling (marsad.crawler.health, marsad.crawler.polling), and
    # the outbox carrying notices about them (health alerts) beside article alerts.
    for statement in (
        # The first failure of the current run of failures (NULL once a fetch succeeds): a feed
        # is failing after N failures in a row or failures spanning a time, and says since when.
        "ALTER TABLE feeds ADD COLUMN failures_since TEXT",
        # The state last told to people ('ok', 'failing' or 'silent') and since when it holds
        # (failing: the first failure; silent: the last time something new arrived).
        "ALTER TABLE feeds ADD COLUMN health TEXT NOT NULL DEFAULT 'ok' "
        "CHECK (health IN ('ok', 'failing', 'silent'))",
        "ALTER TABLE feeds ADD COLUMN health_since TEXT",
        "ALTER TABLE feeds ADD COLUMN health_changed_at TEXT",
        # When the feed's first reading ended: arrivals after it count towards its rate (its
        # first reading's backlog does not).
        "ALTER TABLE feeds ADD COLUMN watched_since TEXT",
        # The interval its job runs at now (seconds) and why; the feed's own hints (ttl,
        # sy:updatePeriod, Cache-Control, Expires, Retry-After) as a shortest interval, and
        # which said it; the stretch that polls finding nothing new put on its interval.
        "ALTER TABLE feeds ADD COLUMN poll_every REAL",
        "ALTER TABLE feeds ADD COLUMN poll_reason TEXT",
        "ALTER TABLE feeds ADD COLUMN hint_every REAL",
        "ALTER TABLE feeds ADD COLUMN hint_reason TEXT",
        "ALTER TABLE feeds ADD COLUMN poll_stretch REAL NOT NULL DEFAULT 1.0",
        # A feed's arrivals in time order: its rate and its usual gap are read per poll.
        "CREATE INDEX articles_feed_fetched ON articles(feed_id, fetched_at) "
        "WHERE feed_id IS NOT NULL",
        # What a health alert tells: a feed failing, silent or recovered; a channel failing or
        # recovered; alerts gone to dead letters. One row per change of state, each alert of it
        # (one per [health] channel) points here.
        """
        CREATE TABLE health_events (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL CHECK (subject IN ('feed', 'channel', 'delivery')),
            name TEXT NOT NULL,
            event TEXT NOT NULL,
            since TEXT,
            detail TEXT,
            facts TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX health_events_subject ON health_events(subject, name, created_at)",
        # Each channel's delivery health as last told: failing once its sends have all failed
        # for long enough.
        """
        CREATE TABLE channel_health (
            channel TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'failing')),
            since TEXT,
            changed_at TEXT,
            last_error TEXT
        )
        """,
        # The outbox gains a kind: 'article' alerts (an article and its story, as before) and
        # 'health' alerts (a health event, no article). SQLite cannot drop NOT NULL in place:
        # the table is rebuilt under the views that read it, its ids kept. Its deliveries are
        # set aside meanwhile: dropping a parent table with children fails the foreign keys
        # (a rename does not clear the count), and foreign_keys cannot be turned off inside a
        # migration's transaction. dead_noticed: a dead article alert already told in a
        # dead-letters notice (those dead before this migration count as told).
        "DROP VIEW IF EXISTS story_overview",
        "DROP VIEW IF EXISTS alert_deliveries",
        """
        CREATE TABLE alerts_0013 (
            id INTEGER PRIMARY KEY,
            article_id INTEGER REFERENCES articles(id),
            story_id INTEGER REFERENCES stories(id),
            rule TEXT NOT NULL,
            channel TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            claimed_by TEXT,
            lease_until TEXT,
            kind TEXT NOT NULL DEFAULT 'article' CHECK (kind IN ('article', 'health')),
            health_event_id INTEGER REFERENCES health_events(id),
            dead_noticed INTEGER NOT NULL DEFAULT 0,
            UNIQUE (story_id, rule, channel),
            CHECK (
                (kind = 'article' AND article_id IS NOT NULL AND story_id IS NOT NULL)
                OR (kind = 'health' AND health_event_id IS NOT NULL)
            )
        )
        """,
        """
        INSERT INTO alerts_0013 (
            id, article_id, story_id, rule, channel, idempotency_key, payload, status,
            attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by,
            lease_until, kind, dead_noticed
        )
        SELECT id, article_id, story_id, rule, channel, idempotency_key, payload, status,
            attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by,
            lease_until, 'article', status = 'dead'
        FROM alerts
        """,
        "CREATE TEMP TABLE deliveries_0013 AS SELECT * FROM deliveries",
        "DELETE FROM deliveries",
        "DROP TABLE alerts",
        "ALTER TABLE alerts_0013 RENAME TO alerts",
        "INSERT INTO deliveries SELECT * FROM temp.deliveries_0013",
        "DROP TABLE temp.deliveries_0013",
        "CREATE INDEX alerts_due ON alerts(status, next_attempt_at)",
        "CREATE INDEX alerts_dead_unnoticed ON alerts(id) "
        "WHERE status = 'dead' AND dead_noticed = 0",
        # 0008's views, as they were, over the rebuilt table (alert_deliveries lists article
        # alerts only: a health alert's event is in health_events).
        """
        CREATE VIEW story_overview AS
        SELECT
            s.id AS story_id,
            coalesce(o.title, s.title) AS title,
            s.original_id,
            o.source AS original_source,
            o.url AS original_url,
            coalesce(o.published, o.fetched_at) AS original_published,
            s.article_count,
            max(s.article_count - 1, 0) AS copy_count,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            s.first_seen,
            s.last_seen,
            (SELECT group_concat(rule, ', ') FROM (
                SELECT DISTINCT m.rule FROM matches m JOIN articles x ON x.id = m.article_id
                WHERE x.story_id = s.id ORDER BY m.rule)) AS rules,
            (SELECT count(*) FROM alerts al WHERE al.story_id = s.id)
                + (SELECT count(*) FROM stories g JOIN alerts al ON al.story_id = g.id
                   WHERE g.merged_into = s.id) AS alert_count
        FROM stories s
        LEFT JOIN articles o ON o.id = s.original_id
        WHERE s.merged_into IS NULL AND s.article_count > 0
        """,
        """
        CREATE VIEW alert_deliveries AS
        SELECT
            al.id AS alert_id,
            al.created_at,
            al.rule,
            al.channel,
            al.status,
            al.attempts,
            al.last_error,
            al.next_attempt_at,
            al.sent_at,
            s.id AS story_id,
            al.article_id,
            a.title,
            a.source,
            a.url,
            coalesce(a.published, a.fetched_at) AS published,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            (SELECT count(*) FROM deliveries d WHERE d.alert_id = al.id) AS delivery_count,
            (SELECT max(d.attempted_at) FROM deliveries d WHERE d.alert_id = al.id)
                AS last_attempt_at,
            (SELECT d.status_code FROM deliveries d WHERE d.alert_id = al.id
                ORDER BY d.attempted_at DESC, d.id DESC LIMIT 1) AS last_status_code
        FROM alerts al
        JOIN articles a ON a.id = al.article_id
        JOIN stories held ON held.id = al.story_id
        JOIN stories s ON s.id = coalesce(held.merged_into, held.id)
        """,
    ):
        db.execute(statement)


@migrations(name="0014_digests")
def m0014_digests(db: Database) -> None:
    # Digests (marsad.alerts.digest): a channel with ``digest = "hourly"`` or ``"daily HH:MM"``
    # gets one message per period listing its stories instead of one per alert. A digest is an
    # outbox row of its own (kind 'digest': claimed, retried, recorded like any alert); the
    # alerts it carries wait as 'held' and point at it, and are sent when it is.
    for statement in (
        # One row per channel and period closed; (channel, period_end) is its identity, so two
        # processes closing the same period make one digest.
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            schedule TEXT NOT NULL,
            period_start TEXT NOT NULL,
            period_end TEXT NOT NULL,
            story_count INTEGER NOT NULL,
            alert_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (channel, period_end)
        )
        """,
        # The outbox gains kind 'digest' and status 'held' (an article alert waiting for its
        # channel's digest), and digest_id: for a digest row the digest it sends, for an
        # article alert the digest it went out in. The CHECKs cannot change in place: the table
        # is rebuilt as in 0013, its ids kept, its deliveries set aside meanwhile.
        "DROP VIEW IF EXISTS story_overview",
        "DROP VIEW IF EXISTS alert_deliveries",
        """
        CREATE TABLE alerts_0014 (
            id INTEGER PRIMARY KEY,
            article_id INTEGER REFERENCES articles(id),
            story_id INTEGER REFERENCES stories(id),
            rule TEXT NOT NULL,
            channel TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'held', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            claimed_by TEXT,
            lease_until TEXT,
            kind TEXT NOT NULL DEFAULT 'article'
                CHECK (kind IN ('article', 'health', 'digest')),
            health_event_id INTEGER REFERENCES health_events(id),
            dead_noticed INTEGER NOT NULL DEFAULT 0,
            digest_id INTEGER REFERENCES digests(id),
            UNIQUE (story_id, rule, channel),
            CHECK (
                (kind = 'article' AND article_id IS NOT NULL AND story_id IS NOT NULL)
                OR (kind = 'health' AND health_event_id IS NOT NULL)
                OR (kind = 'digest' AND digest_id IS NOT NULL)
            )
        )
        """,
        """
        INSERT INTO alerts_0014 (
            id, article_id, story_id, rule, channel, idempotency_key, payload, status,
            attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by,
            lease_until, kind, health_event_id, dead_noticed
        )
        SELECT id, article_id, story_id, rule, channel, idempotency_key, payload, status,
            attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by,
            lease_until, kind, health_event_id, dead_noticed
        FROM alerts
        """,
        "CREATE TEMP TABLE deliveries_0014 AS SELECT * FROM deliveries",
        "DELETE FROM deliveries",
        "DROP TABLE alerts",
        "ALTER TABLE alerts_0014 RENAME TO alerts",
        "INSERT INTO deliveries SELECT * FROM temp.deliveries_0014",
        "DROP TABLE temp.deliveries_0014",
        "CREATE INDEX alerts_due ON alerts(status, next_attempt_at)",
        "CREATE INDEX alerts_dead_unnoticed ON alerts(id) "
        "WHERE status = 'dead' AND dead_noticed = 0",
        # A channel's held alerts by time (a period's members); a digest's members.
        "CREATE INDEX alerts_held ON alerts(channel, created_at) WHERE status = 'held'",
        "CREATE INDEX alerts_digest ON alerts(digest_id) WHERE digest_id IS NOT NULL",
        # 0013's views over the rebuilt table; alert_deliveries says which digest an alert
        # went out in.
        """
        CREATE VIEW story_overview AS
        SELECT
            s.id AS story_id,
            coalesce(o.title, s.title) AS title,
            s.original_id,
            o.source AS original_source,
            o.url AS original_url,
            coalesce(o.published, o.fetched_at) AS original_published,
            s.article_count,
            max(s.article_count - 1, 0) AS copy_count,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            s.first_seen,
            s.last_seen,
            (SELECT group_concat(rule, ', ') FROM (
                SELECT DISTINCT m.rule FROM matches m JOIN articles x ON x.id = m.article_id
                WHERE x.story_id = s.id ORDER BY m.rule)) AS rules,
            (SELECT count(*) FROM alerts al WHERE al.story_id = s.id)
                + (SELECT count(*) FROM stories g JOIN alerts al ON al.story_id = g.id
                   WHERE g.merged_into = s.id) AS alert_count
        FROM stories s
        LEFT JOIN articles o ON o.id = s.original_id
        WHERE s.merged_into IS NULL AND s.article_count > 0
        """,
        """
        CREATE VIEW alert_deliveries AS
        SELECT
            al.id AS alert_id,
            al.created_at,
            al.rule,
            al.channel,
            al.status,
            al.attempts,
            al.last_error,
            al.next_attempt_at,
            al.sent_at,
            s.id AS story_id,
            al.article_id,
            a.title,
            a.source,
            a.url,
            coalesce(a.published, a.fetched_at) AS published,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            (SELECT count(*) FROM deliveries d WHERE d.alert_id = al.id) AS delivery_count,
            (SELECT max(d.attempted_at) FROM deliveries d WHERE d.alert_id = al.id)
                AS last_attempt_at,
            (SELECT d.status_code FROM deliveries d WHERE d.alert_id = al.id
                ORDER BY d.attempted_at DESC, d.id DESC LIMIT 1) AS last_status_code,
            al.digest_id
        FROM alerts al
        JOIN articles a ON a.id = al.article_id
        JOIN stories held ON held.id = al.story_id
        JOIN stories s ON s.id = coalesce(held.merged_into, held.id)
        """,
    ):
        db.execute(statement)


@migrations(name="0015_story_follow_ups")
def m0015_story_follow_ups(db: Database) -> None:
    # Story follow-ups (marsad.alerts.followups): a rule with `follow_up = [3, 10]` that
    # alerted on a story alerts again, on each channel, when the story reaches 3 outlets, then
    # 10. A follow-up is an outbox row of its own; follow_up is its threshold (0: the rule's
    # first alert on the story), and the outbox's one-alert-per-story-rule-channel becomes one
    # per threshold too: in the schema, so two processes ingesting copies of a story never
    # queue a threshold twice.
    #
    # SQLite cannot change a UNIQUE in place: the table is rebuilt by SQLite's own recipe for
    # a changed table (https://sqlite.org/lang_altertable.html#otheralter): its definition as
    # the store holds it, with the column added and the UNIQUE widened; every column copied,
    # ids kept; its indexes and the store's views re-created from their stored definitions;
    # the rows that point at it (deliveries) set aside meanwhile, as in 0013.
    table = next(db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'"))
    one_per_story = "UNIQUE (story_id, rule, channel)"
    assert table["sql"].count(one_per_story) == 1, "alerts: the UNIQUE 0001 made is not there"
    definition = re.sub(
        r'^CREATE TABLE\s+"?alerts"?', "CREATE TABLE alerts_0015", table["sql"]
    ).replace(
        one_per_story,
        "follow_up INTEGER NOT NULL DEFAULT 0 CHECK (follow_up >= 0),\n"
        "            UNIQUE (story_id, rule, channel, follow_up)",
    )
    columns = ", ".join(f'"{row["name"]}"' for row in db.query("PRAGMA table_info(alerts)"))
    indexes = [
        row["sql"]
        for row in db.query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' "
            "AND sql IS NOT NULL ORDER BY name"
        )
    ]
    views = list(db.query("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid"))
    referring = [
        row["name"]
        for row in db.query(
            "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.\"table\" = 'alerts' GROUP BY m.name ORDER BY m.name"
        )
    ]
    for view in views:
        db.execute(f'DROP VIEW "{view["name"]}"')
    db.execute(definition)
    db.execute(f"INSERT INTO alerts_0015 ({columns}) SELECT {columns} FROM alerts")
    for name in referring:
        db.execute(f'CREATE TEMP TABLE "{name}_0015" AS SELECT * FROM "{name}"')
        db.execute(f'DELETE FROM "{name}"')
    db.execute("DROP TABLE alerts")
    db.execute("ALTER TABLE alerts_0015 RENAME TO alerts")
    for name in referring:
        db.execute(f'INSERT INTO "{name}" SELECT * FROM temp."{name}_0015"')
        db.execute(f'DROP TABLE temp."{name}_0015"')
    for statement in indexes:
        db.execute(statement)
    for view in views:
        db.execute(view["sql"])


@migrations(name="0016_crosslingual")
def m0016_crosslingual(db: Database) -> None:
    # Cross-lingual copies (#17): an Arabic machine translation of an English (any
    # non-Arabic) article joins the original's story. A worker process profiles each article
    # of the window once (vectors and anchors; a row with no vectors says it was checked and
    # had nothing to profile): the row's presence is the "checked" mark an alert waits for.
    # ``seq`` grows with every row written, so the worker's in-memory index reads only what
    # is new since it last looked.
    db.executescript(
        """
        CREATE TABLE crosslingual_profiles (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id INTEGER NOT NULL UNIQUE REFERENCES articles(id),
            language TEXT CHECK (language IN ('ar', 'other')),
            model TEXT NOT NULL,
            doc_vector BLOB,
            paragraph_vectors BLOB,
            paragraph_count INTEGER NOT NULL DEFAULT 0,
            anchors TEXT NOT NULL DEFAULT '',
            fetched_at TEXT NOT NULL,
            checked_at TEXT NOT NULL
        );
        CREATE INDEX crosslingual_profiles_fetched ON crosslingual_profiles(fetched_at);

        -- Provenance: the Arabic article ``translation_id`` was translated from
        -- ``original_id``; an Arabic article has one original.
        CREATE TABLE crosslingual_links (
            id INTEGER PRIMARY KEY,
            translation_id INTEGER NOT NULL UNIQUE REFERENCES articles(id),
            original_id INTEGER NOT NULL REFERENCES articles(id),
            score REAL NOT NULL,
            evidence TEXT NOT NULL,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            merged_story_id INTEGER REFERENCES stories(id),
            linked_at TEXT NOT NULL
        );
        CREATE INDEX crosslingual_links_original ON crosslingual_links(original_id);
        CREATE INDEX crosslingual_links_story ON crosslingual_links(story_id);

        -- One row, written by the linking pass from [crosslingual]: whether linking is on
        -- (``active_since``; NULL: off, or auto with no non-Arabic article in the window),
        -- how long an alert on an article not checked yet waits, the window; and, for auto,
        -- the last article whose script was looked at.
        CREATE TABLE crosslingual_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            active_since TEXT,
            hold_seconds REAL NOT NULL DEFAULT 0,
            window_seconds REAL NOT NULL DEFAULT 1209600,
            sniffed_through INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations(name="0017_cluster")
def m0017_cluster(db: Database) -> None:
    # The cluster's writer (marsad run --role writer) stores what fetchers send through a Redis
    # stream; its place in the stream is committed with each batch it stores, so a writer killed
    # between its commit and its acknowledgment skips what it already stored.
    db.execute(
        """
        CREATE TABLE cluster_progress (
            stream TEXT PRIMARY KEY,
            last_id TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    # The cluster's scheduler asks for the feeds due, and what each feed led to lately.
    db.execute("CREATE INDEX feeds_next_poll ON feeds(next_poll_at) WHERE retired_at IS NULL")
    db.execute(
        "CREATE INDEX sightings_feed ON sightings(feed_id, seen_at) WHERE feed_id IS NOT NULL"
    )


@migrations(name="0018_crosslingual_run_on")
def m0018_crosslingual_run_on(db: Database) -> None:
    # A run-on text (its paragraph breaks lost) is profiled by its sentences, which are
    # aligned in groups with the other side's paragraphs: the profile says which it holds.
    db.execute("ALTER TABLE crosslingual_profiles ADD COLUMN run_on INTEGER NOT NULL DEFAULT 0")


_INSPECTION_VIEWS = (
    "DROP VIEW IF EXISTS story_overview",
    """
        CREATE VIEW story_overview AS
        SELECT
            s.id AS story_id,
            coalesce(o.title, s.title) AS title,
            s.original_id,
            o.source AS original_source,
            o.url AS original_url,
            coalesce(o.published, o.fetched_at) AS original_published,
            s.article_count,
            max(s.article_count - 1, 0) AS copy_count,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = s.id
                ORDER BY x.source)) AS outlets,
            s.first_seen,
            s.last_seen,
            (SELECT group_concat(rule, ', ') FROM (
                SELECT DISTINCT m.rule FROM matches m JOIN articles x ON x.id = m.article_id
                WHERE x.story_id = s.id ORDER BY m.rule)) AS rules,
            (SELECT count(*) FROM alerts al WHERE al.story_id = s.id) AS alert_count
        FROM stories s
        LEFT JOIN articles o ON o.id = s.original_id
    """,
    "DROP VIEW IF EXISTS alert_deliveries",
    """
        CREATE VIEW alert_deliveries AS
        SELECT
            al.id AS alert_id,
            al.created_at,
            al.rule,
            al.channel,
            al.status,
            al.attempts,
            al.last_error,
            al.next_attempt_at,
            al.sent_at,
            al.story_id,
            al.article_id,
            a.title,
            a.source,
            a.url,
            coalesce(a.published, a.fetched_at) AS published,
            s.outlet_count,
            (SELECT group_concat(source, ', ') FROM (
                SELECT DISTINCT x.source FROM articles x WHERE x.story_id = al.story_id
                ORDER BY x.source)) AS outlets,
            (SELECT count(*) FROM deliveries d WHERE d.alert_id = al.id) AS delivery_count,
            (SELECT max(d.attempted_at) FROM deliveries d WHERE d.alert_id = al.id)
                AS last_attempt_at,
            (SELECT d.status_code FROM deliveries d WHERE d.alert_id = al.id
                ORDER BY d.attempted_at DESC, d.id DESC LIMIT 1) AS last_status_code
        FROM alerts al
        JOIN articles a ON a.id = al.article_id
        JOIN stories s ON s.id = al.story_id
    """,
    "DROP VIEW IF EXISTS feed_health",
    """
        CREATE VIEW feed_health AS
        SELECT
            f.id AS feed_id,
            f.name,
            f.url,
            CASE
                WHEN f.last_fetch_at IS NULL THEN 'never fetched'
                WHEN f.consecutive_failures > 0 THEN 'failing'
                ELSE 'ok'
            END AS state,
            f.last_fetch_at,
            f.last_success_at,
            f.last_new_item_at,
            f.last_status,
            f.consecutive_failures,
            f.last_error,
            f.backoff_until,
            f.next_poll_at,
            f.fetch_count,
            f.items_total,
            (SELECT count(*) FROM articles x WHERE x.feed_id = f.id) AS articles_stored,
            -- Over the last 7 days, or since the feed was added if that is sooner (at least a
            -- day, so a feed added an hour ago does not report 24 times its real rate).
            round(
                (SELECT count(*) FROM articles x WHERE x.feed_id = f.id
                    AND x.fetched_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days'))
                / max(min(julianday('now') - julianday(f.created_at), 7.0), 1.0),
                1
            ) AS items_per_day
        FROM feeds f
    """,
)
