"""The `newswatch` command line."""
import click


@click.group()
def main() -> None:
    """newswatch"""
