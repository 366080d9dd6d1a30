# listserv in a container: SQLite in the volume by default, or set
# LISTSERV_DATABASE_URL to a PostgreSQL URL. Runs as uid and gid 10001, so it
# listens on unprivileged ports (8025 SMTP, 8024 LMTP) behind an MTA that
# takes port 25 (deploy/compose.yaml).
#
# The Python CI tests with, to the patch release.
FROM python:3.11.7-slim-bookworm

# Numbers, not names, in USER below: Kubernetes' runAsNonRoot can check only a number.
RUN groupadd --system --gid 10001 listserv \
    && useradd --system --uid 10001 --gid 10001 --no-log-init --shell /usr/sbin/nologin \
        --home-dir /var/lib/listserv --create-home listserv

WORKDIR /src
# The dependencies exactly as locked, every file checked against its hash; this layer
# is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes \
        -r requirements.lock
# Then listserv itself, with the migrations it applies on start (they ship inside the
# package as listserv/migrations).
COPY pyproject.toml README.md ./
COPY listserv ./listserv
COPY migrations ./migrations
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && rm -rf /src

ENV LISTSERV_DATABASE_URL=sqlite:////var/lib/listserv/listserv.db \
    LISTSERV_LISTEN_HOST=0.0.0.0 \
    LISTSERV_SMTP_PORT=8025 \
    LISTSERV_LMTP_PORT=8024 \
    LISTSERV_HTTP_HOST=0.0.0.0 \
    LISTSERV_HTTP_PORT=8080 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /var/lib/listserv
VOLUME /var/lib/listserv
EXPOSE 8025 8024 8080

# Healthy when /readyz answers 200 (database reachable and migrated, SMTP listening),
# asked where the web side listens: LISTSERV_HTTP_HOST, or loopback when that is every
# address (0.0.0.0, or :: for IPv6 only, as it is bound).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = os.environ.get('LISTSERV_HTTP_HOST') or '127.0.0.1'; host = {'0.0.0.0': '127.0.0.1', '::': '[::1]'}.get(host, f'[{host}]' if ':' in host else host); urllib.request.urlopen(f\"http://{host}:{os.environ.get('LISTSERV_HTTP_PORT') or 8080}/readyz\", timeout=5)"]

# `docker run IMAGE` serves; `docker run IMAGE lists create …` runs the CLI.
ENTRYPOINT ["listserv"]
CMD ["serve"]
