# Reference service (examples.orders) instrumented with resilience-telemetry.
# Built by docker-compose.yml as the `app` service; listens on :8000 (HTTP API and /metrics).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package build and the example need; the ops bundle (alerts/, dashboards/,
# collector/, deploy/) is mounted into the other services instead.
COPY pyproject.toml README.md ./
COPY telemetry ./telemetry
COPY examples ./examples
RUN pip install ".[all]"

RUN useradd --system --uid 10001 --no-create-home app
USER 10001

EXPOSE 8000
CMD ["python", "-m", "examples.orders"]
