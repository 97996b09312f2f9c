"""Celery side of mailer: the app, its thin tasks, and the embedded worker."""
