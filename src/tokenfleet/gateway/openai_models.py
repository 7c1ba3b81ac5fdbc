"""HTTP bodies of the OpenAI API that the gateway reads, and the OpenAI error format it answers with.

Only the fields the gateway acts on are typed; everything else passes through to the backend untouched
(``extra="allow"``). Errors the gateway raises form one small hierarchy::

    ApiError(status, type, code, message, param)      -> {"error": {"message", "type", "param", "code"}}
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ApiError(Exception):
    """An error answered to the client in the OpenAI format with an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> bytes:
        return orjson.dumps({"error": {"message": self.message, "type": self.type,
                                       "param": self.param, "code": self.code}})


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", code, param)


MAX_TOKENS_LIMIT = 1_000_000


class _Body(BaseModel):
    # strict: ``true`` is not 1, ``"5"`` is not 5 and ``"yes"`` is not true
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    n: int = Field(1, ge=1)
    user: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[Any] | None = None


class ChatCompletionRequest(_Body):
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionRequest(_Body):
    prompt: str | list[str] | list[int] | list[list[int]]


def parse_body(raw: bytes, kind: type[_Body]) -> tuple[dict[str, Any], _Body]:
    """Parse and validate a request body; returns the raw dict (forwarded) and the typed view."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object", code="invalid_json")
    try:
        orjson.dumps(data)  # what the gateway forwards must serialise again (orjson nests 255 deep, not 1,024)
    except orjson.JSONEncodeError as exc:
        raise bad_request(f"request body cannot be forwarded: {exc}", code="invalid_json") from None
    try:
        return data, kind.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        raise bad_request(f"{where}: {err['msg']}" if where else err["msg"], param=where) from None


def prompt_text(body: _Body) -> str:
    """The text of the prompt, for the gateway's token estimate (messages concatenated)."""
    if isinstance(body, ChatCompletionRequest):
        parts: list[str] = []
        for m in body.messages:
            if isinstance(m.content, str):
                parts.append(m.content)
            elif isinstance(m.content, list):
                parts.extend(str(c.get("text", "")) for c in m.content if isinstance(c, dict))
        return "\n".join(parts)
    if isinstance(body, CompletionRequest):
        p = body.prompt
        if isinstance(p, str):
            return p
        if p and isinstance(p[0], str):
            return "\n".join(str(x) for x in p)
        return " ".join("x" for _ in range(len(p)))  # token ids: one word per id
    return ""


__all__ = [
    "ApiError",
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "bad_request",
    "parse_body",
    "prompt_text",
]
