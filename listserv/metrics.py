# SPDX-License-Identifier: Apache-2.0
"""What a running listserv counts for Prometheus: mail in, decisions, deliveries, bounces,
the queues and HTTP requests.

One Metrics per running server, with a registry of its own (no process-wide
state: tests run many servers in one process). The queue gauges are read
from the database at scrape time (web.metrics); everything else is counted
where it happens.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds from queueing to delivery: a smarthost on the same host answers in
# milliseconds; retries take minutes to days.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400)


class Metrics:
    """The counters, histograms and gauges of one running listserv."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.received = Counter("listserv_messages_received", "messages stored at intake, "
                                "one per list recipient", registry=registry)
        self.intake_commits = Counter("listserv_intake_commits", "commits that stored received "
                                      "messages; several SMTP transactions share one in a "
                                      "flood", registry=registry)
        self.processed = Counter("listserv_messages_processed", "stored messages processed, "
                                 "by list and what became of them", ["list", "disposition"],
                                 registry=registry)
        self.deliveries = Counter("listserv_deliveries", "recipients handed to the smarthost, "
                                  "by outcome", ["outcome"], registry=registry)
        self.latency = Histogram("listserv_delivery_latency_seconds", "from queueing a job "
                                 "to delivering a recipient", buckets=LATENCY_BUCKETS,
                                 registry=registry)
        self.bounces_scored = Counter("listserv_bounces_scored", "bounces that raised a "
                                      "member's score, by list", ["list"], registry=registry)
        self.http_requests = Counter("listserv_http_requests", "HTTP requests, by route and "
                                     "status", ["route", "method", "status"], registry=registry)
        self.queue_depth = Gauge("listserv_queue_depth", "what waits, by queue", ["queue"],
                                 registry=registry)
        self.queue_oldest = Gauge("listserv_queue_oldest_seconds", "age of the oldest item "
                                  "waiting, by queue", ["queue"], registry=registry)
