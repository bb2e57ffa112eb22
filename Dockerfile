# syncwatch service image. Build: docker build -t syncwatch .
# Run: mount the brand's config at /etc/syncwatch (see deploy/syncwatch/README.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install from a copy of the source, then drop it: only the installed package stays.
# The "postgres" extra brings psycopg for the PostgreSQL store (postgresql+psycopg://…).
WORKDIR /tmp/syncwatch-src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY probes ./probes
RUN pip install ".[postgres]" \
    && cd / && rm -rf /tmp/syncwatch-src

# Non-root; its home is the working directory (the demo writes its store under .syncwatch/ there).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/syncwatch syncwatch
USER syncwatch
WORKDIR /var/lib/syncwatch

EXPOSE 9873

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9873/healthz', timeout=4)"]

ENTRYPOINT ["syncwatch"]
CMD ["run", "-c", "/etc/syncwatch/syncwatch.yaml", "--host", "0.0.0.0"]
