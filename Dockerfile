# leadmatch API image: python:3.11-slim, non-root, installs the package (not editable).
#   docker build -t leadmatch .
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql://... -e REDIS_URL=redis://... leadmatch
# Without DATABASE_URL the service uses a SQLite file in /data (mount a volume to keep it).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY matcher ./matcher
COPY api ./api
COPY config ./config
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/leadmatch.db
RUN useradd --system --uid 10001 --home-dir /data --create-home leadmatch
COPY --from=build /opt/venv /opt/venv
USER leadmatch
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["leadmatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
