"""The Celery app configured from the environment, for Celery's own tools.

celery -A workers.from_env flower        # the Flower dashboard
celery -A workers.from_env inspect active
"""

from mailer.config import load_settings
from workers.app import configure

app = configure(load_settings())

__all__ = ["app"]
