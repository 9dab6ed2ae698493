"""Rendering ``/metrics``: content negotiation (OpenMetrics carries exemplars) and
prometheus-client's multiprocess mode, where each scrape aggregates the workers' files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry.metrics import multiprocess_enabled

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["render"]


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type for a scrape with this ``Accept`` header.

    Prometheus asks for OpenMetrics when it can store exemplars; plain text otherwise.
    """
    from prometheus_client import CollectorRegistry as Registry
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        per_scrape = Registry(support_collectors_without_names=True)
        multiprocess.MultiProcessCollector(per_scrape)  # type: ignore[no-untyped-call]
        return encoder(per_scrape), content_type
    return encoder(registry), content_type
