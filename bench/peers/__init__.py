"""In-memory OCPP central systems the benchmark compares pgcsms with."""

__all__: list[str] = []
