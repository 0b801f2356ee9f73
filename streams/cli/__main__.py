"""`python -m newswatch.streams.cli` — the same as the `newswatch` console script."""

from newswatch.streams.cli import main

main()
