"""Settings from the environment, with embedded defaults that need nothing but Python."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """``DATABASE_URL`` (default: SQLite file), ``AMQP_URL`` (default: in-process broker),
    ``S3_ENDPOINT_URL`` (default: a moto server on loopback), ``ORDERS_FAULTS``."""

    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL", ""))
    amqp_url: str = field(default_factory=lambda: os.environ.get("AMQP_URL", ""))
    s3_endpoint_url: str = field(
        default_factory=lambda: os.environ.get("S3_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL_S3", ""))
    )
    s3_bucket: str = field(default_factory=lambda: os.environ.get("S3_BUCKET", "orders"))
    faults_enabled: bool = field(default_factory=lambda: _flag("ORDERS_FAULTS"))
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PORT", "8000")))
    pool_size: int = 5
    max_overflow: int = 2
    pool_timeout: float = 0.5
    relay_interval: float = 0.2

    def sqlite_default(self) -> str:
        path = Path(tempfile.mkdtemp(prefix="orders-")) / "orders.db"
        return f"sqlite:///{path}"
