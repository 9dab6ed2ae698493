"""Extras that work: the built wheel, installed with one extra into a fresh virtualenv outside the
repository, runs that extra's README lines.

The wheel is built once; every dependency is collected once into a wheelhouse through pip's configured
index (as ``make`` installs), and each virtualenv installs from that wheelhouse only
(``--no-index --find-links``), so a missing dependency of an extra fails here instead of being
found on the network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
README_CODE = [line.strip() for _lang, body in _BLOCK.findall(README) for line in body.splitlines()]


@dataclass(frozen=True)
class Snippet:
    """One extra's README lines (found verbatim in the README's code), between what makes them run."""

    extra: str
    lines: tuple[str, ...]
    before: str = ""
    after: str = ""
    also: tuple[str, ...] = field(default=())  # packages a user brings along (a database driver)

    def program(self) -> str:
        return "\n".join([textwrap.dedent(self.before), *self.lines, textwrap.dedent(self.after), 'print("ok")'])


_ASGI_GET = """
import asyncio


async def get(app, path):
    '''One GET through the ASGI app, lifespan included; no HTTP client needed.'''
    sent, status, body = [], [], []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"orders")], "client": ("127.0.0.1", 1), "server": ("orders", 80)}
    await app(scope, receive, send)
    return status[0], b"".join(body).decode()
"""

SNIPPETS = [
    Snippet(
        "fastapi",
        (
            "from fastapi import FastAPI",
            "import telemetry",
            "app = FastAPI()",
            'telemetry.instrument(app, service_name="orders")  # /metrics, spans, X-Correlation-ID, error envelope',
        ),
        before=_ASGI_GET,
        after="""
        status, text = asyncio.run(get(app, "/metrics"))
        assert status == 200 and "http_server_request_duration_seconds" in text, (status, text[:300])
        assert "_created" not in text, "no *_created series by default"
        """,
    ),
    Snippet(
        "sqlalchemy",
        ("telemetry.instrument(app, engine=engine)  # or instrument_engine(engine) / instrument_engine(async_engine)",),
        before="""
        import asyncio
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine
        import telemetry
        from telemetry.integrations.sqlalchemy import instrument_engine

        app = None
        engine = sa.create_engine("sqlite://", poolclass=sa.pool.QueuePool)
        async_engine = create_async_engine("sqlite+aiosqlite://")
        """,
        after="""
        instrument_engine(async_engine)


        async def main():
            async with async_engine.connect() as conn:  # needs greenlet: the extra brings it
                assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
            await async_engine.dispose()


        asyncio.run(main())
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        """,
        also=("aiosqlite",),
    ),
    Snippet(
        "s3",
        ("from telemetry.integrations.botocore import instrument_client",),
        before="""
        import boto3
        from botocore.stub import Stubber
        """,
        after="""
        s3 = instrument_client(boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"))
        with Stubber(s3) as stub:
            stub.add_response("list_buckets", {"Buckets": []})
            s3.list_buckets()
        """,
    ),
    Snippet(
        "tenacity",
        (
            "from telemetry.integrations.tenacity import instrument_retrying",
            'instrument_retrying(fetch_rates, name="rates")  # a @tenacity.retry function, Retrying or AsyncRetrying',
        ),
        before="""
        import tenacity

        @tenacity.retry(stop=tenacity.stop_after_attempt(2))
        def fetch_rates():
            return 1.0
        """,
        after="assert fetch_rates() == 1.0",
    ),
    Snippet(
        "stamina",
        (
            "from telemetry.integrations.stamina import instrument_stamina, retry as stamina_retry",
            "instrument_stamina()  # stamina's hooks (its own are kept), then:",
        ),
    ),
    Snippet(
        "pybreaker",
        (
            "from telemetry.integrations.pybreaker import instrument_breaker",
            'payments = instrument_breaker(pybreaker.CircuitBreaker(name="payments", fail_max=5))  # Redis storage too',
        ),
        before="import pybreaker",
        after="assert payments.call(lambda: 2) == 2",
    ),
    Snippet(
        "purgatory",
        (
            "from telemetry.integrations.purgatory import instrument_factory",
            'breakers = instrument_factory(purgatory.AsyncCircuitBreakerFactory())  # then @breakers("s3")',
        ),
        before="import purgatory",
    ),
    Snippet(
        "outbox",
        (
            "from telemetry.outbox import enqueue, outbox_table, watch_outbox, OutboxRelay",
            "from telemetry.dlq import watch_dead_letter_queues, redrive",
            "outbox = outbox_table(Base.metadata)  # reference table; or keep your own (see below)",
        ),
        before="""
        from sqlalchemy.orm import DeclarativeBase

        class Base(DeclarativeBase):
            pass
        """,
    ),
    Snippet(
        "aio-pika",
        (
            "from telemetry.integrations.aio_pika import (",
            "AioPikaDeadLetterSource,",
            "AioPikaPublisher,",
            "DuplicateMessage,",
            "instrument_consumer,",
            ")",
        ),
    ),
    Snippet(
        "otlp",
        ("import telemetry",),
        before="""
        import os
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: export is async
        """,
        after="""
        made = telemetry.setup(service_name="orders")
        assert made.logger_provider is not None and made.meter_provider is not None
        made.shutdown()
        """,
    ),
]
SNIPPETS.append(
    Snippet(
        "slowapi",
        (
            "app.state.limiter = limiter",
            "instrument_limiter(limiter, app=app)  # from telemetry.integrations.slowapi; extra [slowapi]",
        ),
        before="""
        from fastapi import FastAPI
        from slowapi import Limiter
        from slowapi.util import get_remote_address
        from telemetry.integrations.slowapi import instrument_limiter

        app = FastAPI()
        limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")
        """,
        also=("fastapi",),  # the limiter guards a FastAPI app, which the [fastapi] extra brings in a service
    )
)
# Extras whose README usage is a command, not Python.
COMMANDS = {
    "rules": "resilience-telemetry generate --only alerts --config ops.yml",
    "dashboards": "resilience-telemetry generate --only dashboards",
}


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the built wheel, a directory holding it and every dependency of every extra)."""
    where = tmp_path_factory.mktemp("wheelhouse")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where), str(ROOT)], where)
    assert built.returncode == 0, built.stderr
    [wheel] = where.glob("resilience_telemetry-*.whl")
    extras = ",".join([*(s.extra for s in SNIPPETS), *COMMANDS])
    also = sorted({package for s in SNIPPETS for package in s.also})
    deps = run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(where), f"{wheel}[{extras}]", *also], where)
    assert deps.returncode == 0, deps.stderr
    return wheel, where


def fresh_venv(where: Path, wheel: Path, wheels: Path, extra: str, also: tuple[str, ...] = ()) -> Path:
    """A virtualenv with only the wheel, the extra and ``also``, installed from the wheelhouse."""
    created = run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")], where)
    assert created.returncode == 0, created.stderr
    python = where / "venv" / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--find-links"]
    installed = run([*pip, str(wheels), f"{wheel}[{extra}]", *also], where)
    assert installed.returncode == 0, installed.stderr
    return python


def test_every_extra_is_tried() -> None:
    """Each user-facing extra of pyproject.toml has a snippet or a command here (a new extra fails until it has)."""
    import tomllib

    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    )
    assert declared - {"all", "demo"} == {s.extra for s in SNIPPETS} | set(COMMANDS)


def test_every_snippet_line_is_in_the_readme() -> None:
    """The lines run below are the README's own (a README edit that drops one fails here)."""
    missing = [line for s in SNIPPETS for line in s.lines if line not in README_CODE]
    assert missing == []
    assert all(command in README for command in COMMANDS.values())


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.extra for s in SNIPPETS])
def test_each_extra_runs_its_readme_snippet(snippet: Snippet, wheelhouse: tuple[Path, Path], tmp_path: Path) -> None:
    """pip install 'resilience-telemetry[<extra>]' into a fresh venv, then the README's lines for it run."""
    wheel, wheels = wheelhouse
    python = fresh_venv(tmp_path, wheel, wheels, snippet.extra, snippet.also)
    (tmp_path / "snippet.py").write_text(snippet.program(), encoding="utf-8")
    result = run([str(python), "snippet.py"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize("extra", sorted(COMMANDS))
def test_each_command_extra_runs_its_readme_command(extra: str, wheelhouse: tuple[Path, Path], tmp_path: Path) -> None:
    """The rules and dashboards extras: the README's generate command works in a fresh venv."""
    wheel, wheels = wheelhouse
    python = fresh_venv(tmp_path, wheel, wheels, extra)
    if "--config ops.yml" in COMMANDS[extra]:
        [config] = [body for lang, body in _BLOCK.findall(README) if lang == "yaml" and body.startswith("# ops.yml")]
        (tmp_path / "ops.yml").write_text(config, encoding="utf-8")
    command = COMMANDS[extra].split()
    result = run([str(python.parent / command[0]), *command[1:]], tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("wrote "), result.stdout
