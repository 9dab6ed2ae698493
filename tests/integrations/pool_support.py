"""Helpers for the pool and dependency-call tests: PostgreSQL URLs, scrape views, an S3 fault proxy."""

from __future__ import annotations

import time
from typing import Any

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_NAME = f"{PG_HOST}:{PG_PORT}/test"
POOL = "db_client_connection_pool_name"


def pg_url(driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://postgres@{PG_HOST}:{PG_PORT}/test"


def pool_view(cap: Any, name: str) -> dict[str, float | None]:
    """The scrape-time pool gauges for ``name``, as Prometheus would read them now."""
    return {
        "idle": cap.sample("db_client_connection_count", **{POOL: name, "db_client_connection_state": "idle"}),
        "used": cap.sample("db_client_connection_count", **{POOL: name, "db_client_connection_state": "used"}),
        "max": cap.sample("db_client_connection_max", **{POOL: name}),
        "idle_max": cap.sample("db_client_connection_idle_max", **{POOL: name}),
    }


def count(cap: Any, metric: str, name: str, **labels: str) -> float | None:
    return cap.sample(metric, **{POOL: name, **labels})


def terminate_backends(pids: list[int]) -> None:
    """Kill PostgreSQL backends from a separate connection, as a server restart would."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin = create_engine(pg_url(), poolclass=NullPool)
    with admin.connect() as conn:
        for pid in pids:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    admin.dispose()


# --- S3: moto's server mode and a fault-injecting proxy in front of it -----------------------
S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>injected by the test</Message><RequestId>test</RequestId></Error>"
)


class FaultProxy:
    """A loopback HTTP proxy to moto: each request takes the next planned fault, or is forwarded.

    Plan entries: ``None`` (forward), ``(status, code)`` (answer an S3 error body), or
    ``("hang", seconds)`` (answer nothing for that long: a read timeout).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.plan: list[Any] = []
        self.requests = 0
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    proxy.requests += 1
                    fault = proxy.plan.pop(0) if proxy.plan else None
                if fault is not None and fault[0] == "hang":
                    time.sleep(fault[1])
                    self.close_connection = True
                    return
                if fault is not None:
                    status, code = fault
                    payload = S3_ERROR.format(code=code).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream_conn = http.client.HTTPConnection(*upstream, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                headers["Host"] = f"{upstream[0]}:{upstream[1]}"
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream_conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def s3_client(endpoint: str, *, attempts: int = 1, read_timeout: float = 5.0) -> Any:
    """A boto3 S3 client for ``endpoint`` with path-style addressing and ``attempts`` total attempts."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": attempts, "mode": "standard"},
            connect_timeout=1,
            read_timeout=read_timeout,
            s3={"addressing_style": "path"},
        ),
    )
