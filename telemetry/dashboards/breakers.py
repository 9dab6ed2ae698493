"""The circuit-breaker dashboard: state timeline, transitions, rejected calls, time in state.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import (
    BREAKER_FAILURE_RATIO_THRESHOLD,
    STATE_COLOURS,
    component_var,
    legend_of,
    make_board,
    match_var,
    outcome_is,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import INSTANCE, Matcher, aggregate, label, rate, ratio, value

__all__ = ["board"]


def board() -> Board:
    """The breakers dashboard, built fresh (descriptions are cheap and immutable)."""
    var = component_var("breaker", "Breaker", c.CIRCUIT_STATE, c.BREAKER_NAME)
    rows = (
        _state_row(),
        _calls_row(),
    )
    return make_board(
        "rt-breakers",
        "Circuit breakers",
        "State, time in state, transitions and calls of every circuit breaker.",
        rows,
        var,
    )


def _state_row() -> Row:
    """The "State" row."""
    var = component_var("breaker", "Breaker", c.CIRCUIT_STATE, c.BREAKER_NAME)
    only = match_var(c.BREAKER_NAME, var)
    group = (INSTANCE, c.BREAKER_NAME)
    state_code = " + ".join(
        f"{aggregate('sum', c.CIRCUIT_STATE, only, Matcher(c.BREAKER_STATE, '=', state), group=group)} * {index}"
        for index, state in enumerate(c.BREAKER_STATES)
    )
    return Row(
        title="State",
        panels=(
            Panel(
                title="Breaker state",
                description="State per breaker and instance, from the one-hot state gauge.",
                unit="none",
                kind="state-timeline",
                queries=(Query(state_code, legend_of(c.BREAKER_NAME, INSTANCE)),),
                width=24,
                mappings=tuple((i, s, STATE_COLOURS[s]) for i, s in enumerate(c.BREAKER_STATES)),
            ),
            Panel(
                title="Time in state",
                description="Share of time each breaker spent in each state (counted at scrape time, "
                "so opens shorter than a scrape still show).",
                unit="percentunit",
                queries=(
                    Query(
                        rate(c.CIRCUIT_TIME_IN_STATE, only, group=(c.BREAKER_NAME, c.BREAKER_STATE)),
                        legend_of(c.BREAKER_NAME, c.BREAKER_STATE),
                    ),
                ),
                stack=True,
            ),
            Panel(
                title="Transitions",
                description="State transitions per rate interval, by the state left and the state entered.",
                unit="short",
                queries=(
                    Query(
                        rate(
                            c.CIRCUIT_TRANSITIONS,
                            only,
                            group=(c.BREAKER_NAME, *c.CIRCUIT_TRANSITIONS.labels[1:]),
                            fn="increase",
                        ),
                        legend_of(*c.CIRCUIT_TRANSITIONS.labels),
                    ),
                ),
            ),
        ),
    )


def _calls_row() -> Row:
    """The "Calls" row."""
    var = component_var("breaker", "Breaker", c.CIRCUIT_STATE, c.BREAKER_NAME)
    only = match_var(c.BREAKER_NAME, var)
    outcome = label(c.CIRCUIT_CALLS, "outcome")
    decided = Matcher(outcome, "=~", f"{value(outcome, 'success')}|{value(outcome, 'failure')}")
    failures = rate(c.CIRCUIT_CALLS, only, outcome_is(c.CIRCUIT_CALLS, "failure"), group=(c.BREAKER_NAME,))
    calls = rate(c.CIRCUIT_CALLS, only, decided, group=(c.BREAKER_NAME,))
    return Row(
        title="Calls",
        panels=(
            Panel(
                title="Calls by outcome",
                description="Calls through each breaker; rejected calls never reached the dependency.",
                unit="ops",
                queries=(
                    Query(
                        rate(c.CIRCUIT_CALLS, only, group=(c.BREAKER_NAME, outcome)),
                        legend_of(c.BREAKER_NAME, outcome),
                    ),
                ),
                stack=True,
            ),
            Panel(
                title="Failure ratio",
                description="Failed / (successful + failed) calls per breaker; the red line is the "
                f"reference failure ratio ({BREAKER_FAILURE_RATIO_THRESHOLD:.0%}).",
                unit="percentunit",
                queries=(Query(ratio(failures, calls), legend_of(c.BREAKER_NAME)),),
                threshold=BREAKER_FAILURE_RATIO_THRESHOLD,
            ),
        ),
    )
