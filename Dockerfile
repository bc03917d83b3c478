# syntax=docker/dockerfile:1
# alert-gateway image: `docker build -t alert-gateway .`, then `docker run alert-gateway serve`.
# Configuration comes from ALERT_GATEWAY_* environment variables (secrets also as mounted files:
# ALERT_GATEWAY_<NAME>_FILE); no secret is baked in. `serve` refuses placeholder Twilio credentials.

# ---- builder: the locked dependencies and the app, installed into a venv --------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The lock first: its layer (the slow part) is rebuilt only when the pins change.
# --require-hashes: every file must match requirements.lock (scripts/lock.sh), or the build stops.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary :all: \
       -r requirements.lock

# README.md: pyproject's `readme` names it, so the build fails without it; LICENSE goes in the wheel.
COPY pyproject.toml README.md LICENSE ./
COPY devices ./devices
COPY alert_gateway ./alert_gateway

# The app alone (--no-deps): nothing outside the lock enters the venv; pip check proves it suffices.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index /wheels/*.whl \
    && /opt/venv/bin/pip check

# ---- runtime: the same base image (the venv's python symlinks resolve), no build tools ------
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="alert-gateway" \
      org.opencontainers.image.description="Emergency-call gateway: MQTT alarms from home devices to people who can help" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ALERT_GATEWAY_HTTP_HOST=0.0.0.0 \
    ALERT_GATEWAY_HTTP_PORT=8080

# The report PDF (WeasyPrint) needs Pango and HarfBuzz's subsetter, and a Japanese font:
# Debian bookworm's versions, pinned as the base image is.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0=1.50.12+ds-1 libpangoft2-1.0-0=1.50.12+ds-1 \
       libharfbuzz-subset0=6.0.0+dfsg-3 fonts-ipafont-gothic=00303-23 \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /app/data \
    && chown gateway:gateway /app/data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8080

# slim has no curl: ask /livez with the standard library. urlopen raises on non-2xx -> exit 1.
# Liveness only: an orchestrator that restarts unhealthy containers must not restart every
# replica because the database or the broker is away (see docs/deployment.md, "Health checks").
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=4)"]

ENTRYPOINT ["alert-gateway"]
CMD ["serve"]
