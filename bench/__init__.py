"""pgcsms benchmark harness: run it with ``python -m bench`` (see bench/README.md)."""

__all__: list[str] = []
