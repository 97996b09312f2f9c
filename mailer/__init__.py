"""mailer: multilingual newsletter and alert sender for human-rights organisations."""

__all__ = ["__version__"]

__version__ = "0.1.0"
