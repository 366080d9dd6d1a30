# listserv in a container: SQLite in the volume by default, or set
# LISTSERV_DATABASE_URL to a PostgreSQL URL. Runs as an unprivileged user,
# so it listens on unprivileged ports; map them to 25/24 on the host.
FROM python:3.12-slim

RUN useradd --system --uid 10001 --home-dir /var/lib/listserv --create-home listserv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY listserv ./listserv
RUN pip install --no-cache-dir . && rm -rf /src

ENV LISTSERV_DATABASE_URL=sqlite:////var/lib/listserv/listserv.db \
    LISTSERV_LISTEN_HOST=0.0.0.0 \
    LISTSERV_SMTP_PORT=8025 \
    LISTSERV_LMTP_PORT=8024 \
    PYTHONUNBUFFERED=1

USER listserv
WORKDIR /var/lib/listserv
VOLUME /var/lib/listserv
EXPOSE 8025 8024

# Healthy when the SMTP listener greets.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, smtplib; smtplib.SMTP('127.0.0.1', int(os.environ['LISTSERV_SMTP_PORT']), timeout=5).quit()"]

# `docker run IMAGE` serves; `docker run IMAGE lists create …` runs the CLI.
ENTRYPOINT ["listserv"]
CMD ["serve"]
