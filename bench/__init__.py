"""The benchmark suite: this package's hot-path overhead, measured beside its baselines.

``CASES`` maps a case key to its title and function, in report order (the issue's numbering
is the title's number).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import cardinality, logs, micro, stall, web

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.harness import Row, Settings

CASES: dict[str, tuple[str, Callable[[Settings], list[Row]]]] = {
    "metric_sink": ("1. metric sink vs prometheus-client vs OpenTelemetry", micro.metric_sink),
    "breaker": ("2. pybreaker closed-state call", micro.breaker),
    "retry": ("3. retry: scheduled-retry event end to end, tenacity first attempt", micro.retry),
    "pool": ("4. SQLite QueuePool SELECT 1, checkout+checkin", micro.pool),
    "http": ("5. HTTP: bare vs OpenTelemetry vs by hand vs full set-up", web.http),
    "outage": ("6. exporter outage: OTLP to a closed port vs a live sink", web.outage),
    "cardinality": ("7. cardinality: unique correlation IDs and error messages", cardinality.cardinality),
    "stall": ("8. stalled scrape: sources hang while /metrics is scraped", stall.stall),
    "logs": ("9. JSON log line: configure_logging() vs native structlog and ProcessorFormatter", logs.logs),
    "http_db": ("10. HTTP: async SQLAlchemy/PostgreSQL endpoint with query spans", web.http_db),
    "exposition": ("11. /metrics render vs plain prometheus-client, same series", micro.exposition),
}
