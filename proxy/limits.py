"""Bounds on what one charger, or one source address, may make the central system do."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "Limits", "TokenBucket"]

DEFAULT_MAX_FRAME_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one charger may make us do."""

    # Largest frame accepted; a larger one closes the connection with 1009.
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # Deepest JSON nesting accepted in a frame; deeper gets FormationViolation.
    max_nesting: int = 32
    # Messages per second a charger may send (sustained), and the burst above it;
    # past both, the connection is closed with 1008 (policy violation).
    messages_per_second: float = 50.0
    message_burst: int = 200
    # WebSocket handshakes per second from one source address, and the burst;
    # past both, HTTP 429.
    handshakes_per_second: float = 20.0
    handshake_burst: int = 100
    # Seconds a WebSocket handshake may take.
    handshake_timeout: float = 30.0
    # Connections the kernel may queue before we accept them (capped by net.core.somaxconn).
    accept_backlog: int = 4096


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
