"""Deterministic filler text and OpenAI-shaped response bodies for the emulator.

Token ``i`` of an answer is one word, ``WORDS[(seed + 7 i) % len(WORDS)]``, sent with a leading space, so
the completion token count is the number of words (:mod:`tokenfleet.gateway.tokens`) whether the answer is
streamed or not. ``seed`` is a CRC of the prompt: the same prompt always gets the same answer.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import orjson

WORDS = ("the", "fleet", "routes", "tokens", "across", "wafer", "scale", "systems", "while", "gpus",
         "keep", "batch", "work", "under", "latency", "targets", "and", "a", "power", "budget", "of",
         "megawatts", "per", "site", "so", "every", "request", "is", "metered", "in", "joules", "dollars")


def seed_for(prompt: str) -> int:
    return zlib.crc32(prompt.encode())


def word(seed: int, i: int) -> str:
    return WORDS[(seed + 7 * i) % len(WORDS)]


def words(seed: int, start: int, stop: int) -> str:
    return "".join(" " + word(seed, i) for i in range(start, stop))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def full_body(chat: bool, rid: str, model: str, text: str, finish: str, prompt_tokens: int,
              completion_tokens: int) -> bytes:
    created = int(time.time())
    choice: dict[str, Any]
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                  "finish_reason": finish}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    return orjson.dumps({"id": rid, "object": obj, "created": created, "model": model, "choices": [choice],
                         "usage": usage(prompt_tokens, completion_tokens)})


class ChunkWriter:
    """SSE chunks of one streamed answer."""

    __slots__ = ("_chat", "_created", "_head", "_model", "_rid", "_role_sent")

    def __init__(self, chat: bool, rid: str, model: str) -> None:
        self._chat, self._rid, self._model = chat, rid, model
        self._created = int(time.time())
        self._role_sent = False
        obj = "chat.completion.chunk" if chat else "text_completion"
        self._head = {"id": rid, "object": obj, "created": self._created, "model": model}

    def token(self, text: str, finish: str | None = None) -> bytes:
        choice: dict[str, Any]
        if self._chat:
            delta: dict[str, Any] = {"content": text}
            if not self._role_sent:
                delta = {"role": "assistant", "content": text}
                self._role_sent = True
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**self._head, "choices": [choice]}) + b"\n\n"

    def finish(self, reason: str) -> bytes:
        if self._chat:
            choice: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}
        else:
            choice = {"index": 0, "text": "", "logprobs": None, "finish_reason": reason}
        return b"data: " + orjson.dumps({**self._head, "choices": [choice]}) + b"\n\n"

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return b"data: " + orjson.dumps({**self._head, "choices": [],
                                         "usage": usage(prompt_tokens, completion_tokens)}) + b"\n\n"


DONE = b"data: [DONE]\n\n"

__all__ = ["DONE", "WORDS", "ChunkWriter", "full_body", "seed_for", "usage", "word", "words"]
