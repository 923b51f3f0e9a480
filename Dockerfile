# rev-analytics: the consumer (default command) and the other CLI commands.
# Build: docker build -t rev-analytics .   Run: see docker-compose.yml.
FROM python:3.11.9-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the installed package needs (see .dockerignore): no tests, no .git.
COPY pyproject.toml README.md ./
COPY rev_analytics ./rev_analytics
COPY streams ./streams
COPY analytics ./analytics
COPY storage ./storage
RUN pip install '.[consumer,analytics,postgresql]' \
    && useradd --system --uid 10001 --no-create-home --home-dir /data rev \
    && mkdir -p /data \
    && chown rev /data

USER rev
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9464

# The consumer is healthy while its /metrics endpoint answers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=4)"]

ENTRYPOINT ["rev-analytics"]
CMD ["consume"]
