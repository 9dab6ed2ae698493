"""The rate-limiter handle: decisions by limit (never by client), storage failures, and the
fallback switch recorded once per change (seed 003: Redis down, per-process counters)."""

from __future__ import annotations

import telemetry
from telemetry.testing import capture

DECISIONS = "resilience_ratelimit_decisions_total"


def test_decisions_by_limit_with_both_outcomes_born_together() -> None:
    """The first admitted request creates the limit's rejected series at 0 too; a rejection is
    a span event and an INFO line with the rule and Retry-After, and no client key anywhere."""
    with capture() as cap:
        bot = telemetry.rate_limiter("bot")
        bot.admitted("messages")
        assert cap.sample(DECISIONS, ratelimit_limiter="bot", ratelimit_limit="messages", outcome="rejected") == 0.0
        with cap.tracer.start_as_current_span("update"):
            bot.rejected("messages", rule="20 per 1 minute", retry_after=12)
    assert {s["outcome"]: cap.sample(DECISIONS, **s) for s in cap.series(DECISIONS)} == {
        "admitted": 1.0,
        "rejected": 1.0,
    }
    assert cap.logs == [
        {
            "event": "telemetry.ratelimit.rejected",
            "log_level": "info",
            "ratelimit.limiter": "bot",
            "ratelimit.limit": "messages",
            "ratelimit.rule": "20 per 1 minute",
            "ratelimit.retry_after_s": 12,
        }
    ]
    [span] = cap.spans()
    assert [e.name for e in span.events] == ["telemetry.ratelimit.rejected"]
    # On the span itself too: the alert's trace search filters on span.ratelimit.limit.
    assert {key: span.attributes[key] for key in ("ratelimit.limiter", "ratelimit.limit")} == {
        "ratelimit.limiter": "bot",
        "ratelimit.limit": "messages",
    }


def test_fallback_switch_is_recorded_once_per_change() -> None:
    """Every request during an outage may report the fallback; one switch is recorded, the
    flag and the activation counter exist at 0 from the handle's creation."""
    with capture() as cap:
        limiter = telemetry.rate_limiter("bot")
        assert cap.sample("resilience_ratelimit_fallback_active", ratelimit_limiter="bot") == 0.0
        assert cap.sample("resilience_ratelimit_fallback_activations_total", ratelimit_limiter="bot") == 0.0
        error = ConnectionError("redis://:hunter2@redis:6379 refused")
        limiter.storage_failed(error)
        for _ in range(3):
            limiter.fallback_entered(error)
        assert limiter.on_fallback
        assert cap.sample("resilience_ratelimit_fallback_active", ratelimit_limiter="bot") == 1.0
        limiter.fallback_exited()
        limiter.fallback_exited()
    assert cap.sample("resilience_ratelimit_fallback_active", ratelimit_limiter="bot") == 0.0
    assert cap.sample("resilience_ratelimit_fallback_activations_total", ratelimit_limiter="bot") == 1.0
    assert (
        cap.sample("resilience_ratelimit_storage_errors_total", ratelimit_limiter="bot", error_type="ConnectionError")
        == 1.0
    )
    assert cap.logs == [
        {
            "event": "telemetry.ratelimit.storage_failed",
            "log_level": "warning",
            "ratelimit.limiter": "bot",
            "error.type": "ConnectionError",
        },
        {
            "event": "telemetry.ratelimit.fallback_entered",
            "log_level": "warning",
            "ratelimit.limiter": "bot",
            "error.type": "ConnectionError",
        },
        {"event": "telemetry.ratelimit.fallback_exited", "log_level": "info", "ratelimit.limiter": "bot"},
    ]
    assert "hunter2" not in repr(cap.logs)


def test_a_flood_of_limit_names_is_bounded() -> None:
    """Limits named from user input fold into _OTHER past the label cap, and the fold is counted."""
    with capture(label_cap=5) as cap:
        limiter = telemetry.rate_limiter("api")
        for index in range(50):
            limiter.admitted(f"/users/{index}")
    limits = {s["ratelimit_limit"] for s in cap.series(DECISIONS)}
    assert len(limits) == 6
    assert "_OTHER" in limits
    assert cap.sample("resilience_telemetry_label_overflows_total", label="ratelimit.limit") == 45.0


def test_reporting_never_raises_with_a_broken_sink(raising_sink) -> None:
    """A failing sink is counted; the caller goes on."""
    with capture(extra_sinks=[raising_sink]) as cap:
        telemetry.rate_limiter("bot").rejected("messages")
    assert cap.sample(DECISIONS, ratelimit_limiter="bot", ratelimit_limit="messages", outcome="rejected") == 1.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 1.0


def test_unused_feature_exports_nothing() -> None:
    """A service without a rate limiter has no rate-limit series an alert could trip on."""
    with capture() as cap:
        pass
    names = {m.name for m in cap.registry.collect() if m.name.startswith("resilience_ratelimit") and m.samples}
    assert names == set()
