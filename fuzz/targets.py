"""atheris targets: one ``TestOneInput`` per parser, turning fuzz bytes into structured input.

Run one with ``python -m fuzz.targets NAME [libFuzzer flags]``; ``python -m fuzz`` runs them all.
"""

from __future__ import annotations

import importlib
import importlib.util
import string
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import atheris

if TYPE_CHECKING:
    from collections.abc import Callable

KEYS = ["traceparent", "tracestate", "baggage", "x-correlation-id", "x-request-id", "x-death", "x-delivery-count"]
ALNUM = string.ascii_letters + string.digits
X_DEATH_MODULE = "telemetry.messaging"


def header_value(fdp: Any, depth: int = 0) -> Any:
    """Any value an AMQP table or a header mapping can hold, nested a few levels."""
    scalars: list[Callable[[], Any]] = [
        lambda: fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 600)),
        lambda: fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 600)),
        lambda: fdp.ConsumeInt(8),
        fdp.ConsumeFloat,
        lambda: None,
        fdp.ConsumeBool,
        lambda: datetime.fromtimestamp(fdp.ConsumeIntInRange(0, 2**32), tz=timezone.utc),
    ]
    containers: list[Callable[[], Any]] = [
        lambda: [header_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))],
        lambda: header_map(fdp, depth + 1),
    ]
    choices = scalars + containers if depth < 3 else scalars
    return choices[fdp.ConsumeIntInRange(0, len(choices) - 1)]()


def header_map(fdp: Any, depth: int = 0) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        key = KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)] if fdp.ConsumeBool() else fdp.ConsumeUnicode(8)
        out[key] = header_value(fdp, depth)
    return out


def correlation_header(data: bytes) -> None:
    from fuzz.properties import check_correlation_header

    fdp = atheris.FuzzedDataProvider(data)
    names = [b"x-correlation-id", b"x-request-id", b"X-Correlation-ID", b"other"]
    headers = [
        (names[fdp.ConsumeIntInRange(0, 3)], fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)))
        for _ in range(fdp.ConsumeIntInRange(0, 4))
    ]
    check_correlation_header(headers)


def extract(data: bytes) -> None:
    from fuzz.properties import check_extract

    check_extract(header_map(atheris.FuzzedDataProvider(data)))


def redaction(data: bytes) -> None:
    from fuzz.properties import check_redact_text, check_redactor

    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 2000))
    secret = "".join(ALNUM[b % len(ALNUM)] for b in fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)))
    check_redact_text(text, secret)
    check_redactor({"event": text, **header_map(fdp), "password": secret})


def x_death(data: bytes) -> None:
    from fuzz.properties import check_x_death

    module = importlib.import_module(X_DEATH_MODULE)
    fdp = atheris.FuzzedDataProvider(data)
    check_x_death(module.parse_x_death, header_map(fdp))
    check_x_death(module.delivery_count, header_map(fdp))


def available() -> dict[str, Callable[[bytes], None]]:
    """The targets whose code is in this tree (the x-death parser lands with the DLQ work)."""
    found: dict[str, Callable[[bytes], None]] = {
        "correlation_header": correlation_header,
        "extract": extract,
        "redaction": redaction,
    }
    if importlib.util.find_spec(X_DEATH_MODULE) is not None:
        found["x_death"] = x_death
    return found


def main() -> None:
    name, flags = sys.argv[1], sys.argv[2:]
    target = available()[name]
    # Third-party code is imported first, uninstrumented; coverage guides through ours only.
    import opentelemetry.propagate  # noqa: F401
    import structlog  # noqa: F401

    with atheris.instrument_imports(include=["telemetry", "fuzz"]):
        import fuzz.properties  # noqa: F401
        import telemetry.correlation
        import telemetry.logging  # noqa: F401

        if name == "x_death":
            importlib.import_module(X_DEATH_MODULE)
    atheris.Setup([sys.argv[0], *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
