"""The alert families, one module each, in the order of ``alerts/runbooks.md``.

To add a family: a ``<name>.py`` module with ``family(q, cfg) -> Family``, its runbook
template ``<name>.md`` next to it, an entry in :data:`FAMILIES`, and a hand-written
``alerts/tests/<name>.test.yml`` (the tests require one per rule file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from telemetry.promql import Builder
from telemetry.rules.families import (
    breaker,
    bulkhead,
    dependency,
    dlq,
    meta,
    outbox,
    pool,
    ratelimit,
    recovery,
    retry,
    slo,
    timeout,
)

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig
    from telemetry.rules.model import Family

__all__ = ["FAMILIES", "families"]

FAMILIES: Final = (breaker, pool, dependency, retry, outbox, dlq, meta, slo, timeout, ratelimit, bulkhead, recovery)


def families(config: RulesConfig) -> tuple[Family, ...]:
    """Every family's rules and runbooks for ``config``."""
    q = Builder(config.selector, config.service_label, config.instance_label)
    return tuple(module.family(q, config) for module in FAMILIES)
