# geo-service: the HTTP service and its CLI (python:3.11-slim, pinned dependencies).
# Built and run by docker-compose.yml beside PostGIS; see docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # the source tree first: geo_service finds its bundled boundaries in /app/sample_geodata
    PYTHONPATH=/app \
    GEO_HOST=0.0.0.0 \
    GEO_PORT=8000 \
    GEO_DATA_DIR=/var/lib/geo-service \
    GEO_PROGRESS=false

WORKDIR /app
# dependencies first (a layer that changes only with the lock), then the code
COPY pyproject.toml requirements.lock README.md ./
COPY analytics ./analytics
COPY layers ./layers
COPY geo_service ./geo_service
COPY sample_geodata ./sample_geodata
RUN pip install -c requirements.lock . \
    && useradd --system --home-dir /var/lib/geo-service --create-home geo \
    && chown geo /var/lib/geo-service

USER geo
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["sh", "-c", "geo-service init && exec geo-service serve"]
