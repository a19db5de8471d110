"""Allow ``python -m pipeline``: the same Typer app as the ``cda`` console script."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
