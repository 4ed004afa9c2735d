"""`python -m tigris` runs the command line."""

from tigris.cli import main

main()
