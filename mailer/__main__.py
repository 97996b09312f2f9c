"""`python -m mailer` runs the CLI."""

from mailer.cli import main

main()
