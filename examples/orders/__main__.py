"""``python -m examples.orders``: serve the reference service with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

import telemetry
from examples.orders.app import create_app
from examples.orders.settings import Settings


def main() -> None:
    settings = Settings()
    telemetry.configure_logging(service="orders")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the embedded moto server's access log
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
