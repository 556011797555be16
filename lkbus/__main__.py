"""`python -m lkbus` runs the CLI."""

from lkbus.cli import main

main()
