"""marsad on many machines: ``marsad run --role scheduler|fetcher|writer`` on one Redis.

- The **scheduler** reads the store (never writes it), decides which feeds are due and sends
  each due feed, with what the store knows of its entries, to the fetcher that owns its site
  (:mod:`.partition`: every site has one owner among the fetchers alive, so Scrapy's per-site
  slot keeps politeness; a site lease in Redis keeps it while sites move).
- A **fetcher** has no store: its crawl engine fetches the feed and the pages it leads to, and
  hands every outcome and article on to one Redis Stream (:mod:`.fetcher`).
- The **writer** is the store's one writer: it reads that stream in a consumer group, stores
  each message exactly once (the stream position is committed with the batch), queues the
  alerts and delivers them (:mod:`.writer`).

Messages are JSON (:mod:`.codec`): nothing read from Redis is ever unpickled.
"""
