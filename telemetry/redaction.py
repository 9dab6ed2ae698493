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
        "session_id",
        "cookies",
        "api-key",
        "private-key",
    }
)
# user:password@ in any scheme://; the password may hold "/", "//" and ":" (RFC 3986 allows
# them in userinfo) but no "://", so a scan never runs from one URL into the next.
# Every repetition is bounded: unbounded ones made redaction quadratic in the text length.
_URL_CREDENTIALS: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^:/@\s]{0,256}):(?P<pw>(?:[^@\s:]|:(?!//)){0,1024})@"
)
# A header line (raw HTTP text, a log of request headers): everything after the colon is the
# credential, whatever the scheme (Bearer, Basic, Token, Digest, AWS4-HMAC-SHA256, ...).
_HEADER_LINE: Final = re.compile(
    r"(?i)(?P<name>(?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key|x-auth-token)"
    r"(?P<sep>[ \t]*:[ \t]*)(?P<value>[^\r\n]{1,8192})"
)
# The words that make a key secret inside text. The key may carry a prefix or suffix
# (aws_secret_access_key, X-Amz-Signature, db_passwd, dbPassword): the match starts at the word
# (a prefix stays as it is), an optional closing quote follows (Python reprs, JSON), and only the
# value goes: quoted (escapes honoured) or up to the next separator or bracket.
_WORDS: Final = (
    r"passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signature"
    r"|session(?:[_-]?id)?|cookies?|credentials?|authorization|auth\b"
)
_KEY_VALUE: Final = re.compile(
    rf"(?i)(?P<key>(?:{_WORDS})[\w-]{{0,32}}['\"]?)(?P<sep>\s{{0,8}}[=:]\s{{0,8}})"
    r"(?P<value>\"(?:[^\"\\\n]|\\.){0,4096}\"|'(?:[^'\\\n]|\\.){0,4096}'|[^\s,;&'\"(){}\[\]<>]{1,4096})"
)
# A (name, value) pair written out: ('X-Api-Key', '...') in a repr, ["Cookie", "..."] in JSON.
_PAIR: Final = re.compile(
    r"(?P<head>[(\[]\s{0,8}b?(?P<q>['\"])(?P<name>[\w.-]{1,64})(?P=q)\s{0,8},\s{0,8})"
    r"(?P<value>b?\"(?:[^\"\\\n]|\\.){0,4096}\"|b?'(?:[^'\\\n]|\\.){0,4096}')"
)
_BEARER: Final = re.compile(r"(?i)\b(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")

# One cheap search decides whether the substitutions below are needed at all. It runs on the
# lower-cased text: a case-sensitive search is several times faster than an (?i) one.
_SUSPECT: Final = re.compile(
    r"://|passw|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signature|bearer|basic"
    r"|session|cookie|credential|auth"
)


def _suspect(text: str) -> bool:
    """Whether ``text`` may hold a secret at all (the fast path of every redaction)."""
    return _SUSPECT.search(text.lower()) is not None


def _masked_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[-1] if value[-1] in "'\"" and len(value) > 1 else ""
    return f"{quote}{MASK}{quote}" if quote else MASK


def _masked_pair(match: re.Match[str]) -> str:
    if not is_secret_key(match["name"]):
        return match[0]
    return f"{match['head']}{_masked_value(match)}"


_NAME: Final = re.compile(r"[\w.-]{1,64}")


def _is_name(value: object) -> bool:
    """A header or field name (not free text that happens to mention a secret word)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def redact_text(text: str) -> str:
    """Mask credentials inside free text.

    Covers URL/DSN passwords, header lines (``Authorization`` with any scheme, ``Cookie``,
    ``Set-Cookie``, ``X-Api-Key``), ``key=value`` and ``key: value`` with the key quoted or not
    (Python reprs, JSON), ``(name, value)`` pairs written out, and bearer/basic tokens. Linear
    in the length of ``text``; text without any secret-looking word costs one search.
    """
    if not _suspect(text):
        return text
    if "://" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _HEADER_LINE.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = _PAIR.sub(_masked_pair, text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{_masked_value(m)}", text)
    return _BEARER.sub(lambda m: f"{m['kind']} {MASK}", text)


# Field names, normalised (lower case, separators dropped: api-key, api_key, apiKey -> apikey).
_SECRET_PARTS: Final = (
    "passw",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "signature",
    "cookie",
    "session",
    "credential",
    "authorization",
)
_SECRET_NAMES: Final = frozenset({"auth", "xauth", "sid", "jwt"})
_SEPARATORS: Final = str.maketrans("", "", "-_. ")
_key_verdicts: dict[str, bool] = {}


def is_secret_key(key: object) -> bool:
    """True for a field or header name that names a secret, whatever its case or separator
    (``api-key``, ``api_key``, ``apiKey``, ``X-Api-Key``, ``db_passwd``, ``cookies``)."""
    if isinstance(key, bytes | bytearray):
        key = bytes(key).decode("latin-1")
    if not isinstance(key, str):
        return False
    verdict = _key_verdicts.get(key)
    if verdict is None:
        normal = key.lower().translate(_SEPARATORS)
        verdict = key.lower() in SECRET_KEYS or normal in _SECRET_NAMES or any(p in normal for p in _SECRET_PARTS)
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
        return _redact_sequence(value, depth)
    return _rendered(value)


def redact_value(value: Any) -> Any:
    """Return ``value`` with secrets masked: secret-named keys at any depth, credentials in text."""
    return _redact(value)


def _redact_sequence(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any] | tuple[Any, ...]:
    if len(value) == 2 and _is_name(value[0]) and is_secret_key(value[0]):  # a header, a form field
        items = [value[0], MASK]
    else:
        items = [_redact(v, depth + 1) for v in value]
    # Plain list/tuple: subclasses such as namedtuples do not take an iterable.
    return items if isinstance(value, list) else tuple(items)


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
                if not value.isalnum() and _suspect(value):
                    event_dict[key] = redact_text(value)
            elif not isinstance(value, int | float | bool) and value is not None:
                event_dict[key] = _redact(value)
        return event_dict
