# The application image: the portal (gunicorn 'web:create_app()') and the worker
# (celery -A autograder.worker.app worker). Student code never runs in this image: the
# worker starts grader-image containers through the host's Docker daemon.
#
#   docker build -f infra/app.Dockerfile -t dlgrade-app .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# The docker CLI talks to the host's daemon through the mounted socket (worker only).
RUN apt-get update && apt-get install -y --no-install-recommends docker.io \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/dlgrade
COPY pyproject.toml ./
COPY autograder ./autograder
COPY web ./web
COPY grader_images ./grader_images
COPY infra/scripts/worker_entry.sh /usr/local/bin/dlgrade-worker
# torch is not needed here: with the Docker sandbox, tests run inside the grader image.
RUN pip install '.[all]' gunicorn
EXPOSE 8000
ENV DLGRADE_PORTAL_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "python:web.gunicorn_conf", "web:create_app()"]
