# mailer: one image for the worker, beat and web services (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 1000 mailer
WORKDIR /app

COPY pyproject.toml README.md ./
COPY mailer ./mailer
COPY workers ./workers
COPY templates ./templates
COPY examples ./examples
# Editable install: templates and catalogs are read from /app, as in a checkout.
RUN pip install -e ".[postgres]"

USER mailer
ENV MAILER_DATA_DIR=/home/mailer/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["mailer", "doctor"]
CMD ["mailer", "--help"]
