"""The circuit-breaker dashboard: state by breaker, time in state, transitions, calls.

Readable at 20 instances: the first timeline has one row per breaker (its worst instance), and
a panel repeated for each selected breaker shows that breaker's instances. Time in state is the
average over instances of each instance's share (its time in a state over its time in all
states): summing per-instance time would read 2000% at 20 instances, and an instance with four
workers counts four seconds a second.
Metric and label names come from the catalog through :mod:`telemetry.promql`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.dashboards._common import (
    STATE_COLOURS,
    Context,
    component_var,
    legend_of,
    make_board,
    match_var,
    object_links,
    outcome_is,
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable
from telemetry.dashboards._promql import Matcher, label, ratio, value

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]

_MAPPINGS = tuple((i, s, STATE_COLOURS[s]) for i, s in enumerate(c.BREAKER_STATES))


def _var(ctx: Context) -> Variable:
    return component_var(ctx, "breaker", "Breaker", c.CIRCUIT_STATE, c.BREAKER_NAME)


def board(cfg: RulesConfig) -> Board:
    """The breakers dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    return make_board(
        ctx,
        "breakers",
        "Circuit breakers",
        "State, time in state, transitions and calls of every circuit breaker.",
        (_state_row(ctx), _calls_row(ctx)),
        _var(ctx),
    )


def _state_code(ctx: Context, group: tuple[c.Label | str, ...]) -> str:
    """0 closed, 1 half-open, 2 open (the catalog's state order) per ``group``, from the one-hot gauge."""
    only = match_var(c.BREAKER_NAME, _var(ctx))
    return " + ".join(
        f"{ctx.q.aggregate('max', c.CIRCUIT_STATE, only, Matcher(c.BREAKER_STATE, '=', state), group=group)} * {index}"
        for index, state in enumerate(c.BREAKER_STATES)
    )


def _state_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    only = match_var(c.BREAKER_NAME, _var(ctx))
    per_instance = (svc, ctx.q.instance, c.BREAKER_NAME)
    worst = f"max by ({svc}, {c.BREAKER_NAME.prom}) ({_state_code(ctx, per_instance)})"
    # each instance's time by state over its total: a share whatever its number of workers
    # (several workers' breakers each count their own seconds, summed by the scrape)
    by_state = q.rate(c.CIRCUIT_TIME_IN_STATE, only, group=(*per_instance, c.BREAKER_STATE))
    total = q.rate(c.CIRCUIT_TIME_IN_STATE, only, group=per_instance)
    shares = f"{by_state} / ignoring ({c.BREAKER_STATE.prom}) group_left {total}"
    return Row(
        title="State",
        panels=(
            Panel(
                title="Breaker state (worst instance)",
                description="One row per breaker: the worst state any instance of the service reports.",
                unit="none",
                kind="state-timeline",
                queries=(Query(worst, legend_of(svc, c.BREAKER_NAME)),),
                width=24,
                mappings=_MAPPINGS,
            ),
            Panel(
                title="State of $breaker by instance",
                description="Repeated for each selected breaker: its state on each instance (the ten worst).",
                unit="none",
                kind="state-timeline",
                queries=(Query(top(_state_code(ctx, per_instance)), legend_of(ctx.q.instance)),),
                mappings=_MAPPINGS,
                repeat="breaker",
            ),
            Panel(
                title="Time in state",
                description="Average share of time the breaker's instances spent in each state (counted at "
                "scrape time, so opens shorter than a scrape still show).",
                unit="percentunit",
                queries=(
                    Query(
                        f"avg by ({svc}, {c.BREAKER_NAME.prom}, {c.BREAKER_STATE.prom}) ({shares})",
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
                        top(
                            q.rate(
                                c.CIRCUIT_TRANSITIONS,
                                only,
                                group=(svc, c.BREAKER_NAME, *c.CIRCUIT_TRANSITIONS.labels[1:]),
                                fn="increase",
                            )
                        ),
                        legend_of(*c.CIRCUIT_TRANSITIONS.labels),
                    ),
                ),
            ),
        ),
    )


def _calls_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    only = match_var(c.BREAKER_NAME, _var(ctx))
    outcome = label(c.CIRCUIT_CALLS, "outcome")
    decided = Matcher(outcome, "=~", f"{value(outcome, 'success')}|{value(outcome, 'failure')}")
    failures = q.rate(c.CIRCUIT_CALLS, only, outcome_is(c.CIRCUIT_CALLS, "failure"), group=(svc, c.BREAKER_NAME))
    calls = q.rate(c.CIRCUIT_CALLS, only, decided, group=(svc, c.BREAKER_NAME))
    return Row(
        title="Calls",
        panels=(
            Panel(
                title="Calls by outcome",
                description="Calls through each breaker; rejected calls never reached the dependency (top ten).",
                unit="ops",
                queries=(
                    Query(
                        top(q.rate(c.CIRCUIT_CALLS, only, group=(svc, c.BREAKER_NAME, outcome))),
                        legend_of(c.BREAKER_NAME, outcome),
                    ),
                ),
                stack=True,
            ),
            Panel(
                title="Failure ratio",
                description="Failed / (successful + failed) calls per breaker. No line: whether the breaker "
                "opens depends on its own policy (a count or a ratio), which the metrics do not carry.",
                unit="percentunit",
                queries=(Query(top(ratio(failures, calls)), legend_of(c.BREAKER_NAME)),),
                links=object_links(ctx, c.BREAKER_NAME),
            ),
        ),
    )
