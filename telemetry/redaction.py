"""One redaction for every output: log lines, span attributes/events/status, error bodies, health.

Every place that lets text or a structure leave the process calls one of three functions, so a
secret masked in a log line is masked the same way on a span or in an HTTP error body:

- :func:`redact_text` for free text (exception messages, tracebacks, URLs, header text);
- :func:`redact_value` for any structure (dicts at any depth, lists, ``(name, value)`` pairs);
- :class:`Redactor`, the structlog processor that applies both to an event dict.

The common case must stay cheap because it runs on every log line: values that cannot hold a
secret (numbers, short alphanumeric IDs, text without any secret-looking keyword) cost one
pre-check and are returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

__all__ = ["MASK", "SECRET_KEYS", "Redactor", "is_secret_key", "redact_text", "redact_value"]

EventDict = MutableMapping[str, Any]
MASK: Final = "***"
SECRET_KEYS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "auth",
        "cookie",
        "set-cookie",
        "api_key",
        "apikey",
        "x-api-key",
        "private_key",
        "client_secret",
        "aws_secret_access_key",
        "credentials",
        "session",
    }
)
# user:password@ in any scheme://; also key=value pairs such as password=... in DSNs/strings.
# Every repetition is bounded: unbounded ones made redaction quadratic in the text length.
_URL_CREDENTIALS: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^:/@\s]{0,256}):(?P<pw>[^@/\s]{0,1024})@"
)
# The key may carry a prefix or suffix (aws_secret_access_key, X-Amz-Signature, db_password): the
# match starts at the keyword (a prefix needs no matching, it stays as it is) and only the value goes.
_KEY_VALUE: Final = re.compile(
    r"(?i)(?P<key>(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature)[\w-]{0,32})"
    r"(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_BEARER: Final = re.compile(r"(?i)\b(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


# One cheap search decides whether the three substitutions below are needed at all.
_SUSPECT: Final = re.compile(r"(?i)://|passw|pwd|secret|token|api[_-]?key|access[_-]?key|signature|bearer|basic")


def redact_text(text: str) -> str:
    """Mask credentials inside free text: URL/DSN passwords, ``key=value`` secrets, bearer tokens."""
    if _SUSPECT.search(text) is None:
        return text
    if "://" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['kind']} {MASK}", text)


_key_verdicts: dict[str, bool] = {}


def is_secret_key(key: object) -> bool:
    """True for a field name that names a secret, whatever its case or separator."""
    if not isinstance(key, str):
        return False
    verdict = _key_verdicts.get(key)
    if verdict is None:
        lowered = key.lower()
        verdict = lowered in SECRET_KEYS or any(
            part in lowered for part in ("password", "secret", "token", "api_key", "apikey")
        )
        if len(_key_verdicts) < 4096:  # field names are few; a flood of odd keys is not cached
            _key_verdicts[key] = verdict
    return verdict


_MAX_DEPTH: Final = 8
_PLAIN: Final = (bool, int, float, type(None))


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return MASK  # too deep to inspect is too deep to trust
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(k) else _redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Plain list/tuple: subclasses such as namedtuples do not take an iterable.
        items = [_redact(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return _rendered(value)


def redact_value(value: Any) -> Any:
    """Return ``value`` with secrets masked: secret-named keys at any depth, credentials in text."""
    return _redact(value)


def _rendered(value: object) -> str:
    """Anything else (exceptions, bytes, objects) rendered as JSONRenderer would, then scrubbed:
    an exception logged as a field carries its message, often a DSN."""
    try:
        return redact_text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


# Written by structlog's own processors, overwriting whatever the call passed: never secrets.
_OWN_KEYS: Final = frozenset({"exc_info", "timestamp", "level", "logger"})


class Redactor:
    """Masks values of secret-looking keys (at any depth) and credentials inside strings.

    Place it last before the renderer, after ``format_exc_info``, so rendered tracebacks are
    scrubbed too.
    """

    __slots__ = ()

    def __call__(self, _logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            if key in _OWN_KEYS or (isinstance(key, str) and key.startswith("_")):
                continue  # exc_info is rendered (and then scrubbed) by format_exc_info; _keys are structlog's
            if is_secret_key(key):
                event_dict[key] = MASK
            elif type(value) is str:
                # Letters and digits only (IDs, names) cannot hold a URL, key=value or bearer secret.
                if not value.isalnum() and _SUSPECT.search(value) is not None:
                    event_dict[key] = redact_text(value)
            elif not isinstance(value, int | float | bool) and value is not None:
                event_dict[key] = _redact(value)
        return event_dict
