"""The token-count rule shared by the emulator and the gateway's fallback estimates (no tokenizer needed).

* prompt tokens: ``ceil(characters / 4)``, at least 1 (the usual ~4 characters per English token);
* completion tokens: the emulator emits one whitespace-separated word per token, so a completion's count
  is its number of words, and streamed and non-streamed answers count the same.

Backends that report ``usage`` are always believed over these estimates.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def prompt_tokens(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def completion_tokens(text: str) -> int:
    return len(text.split())


__all__ = ["CHARS_PER_TOKEN", "completion_tokens", "prompt_tokens"]
