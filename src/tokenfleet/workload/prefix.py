"""Prompt block hashes: one function names the leading KV blocks of a prompt, wherever the prompt comes from.

A prompt is cut into blocks of ``block_tokens`` tokens; block ``i`` is named by a 63-bit hash of the
content of blocks ``0..i`` (*chained*, as vLLM's prefix cache and llm-d's prefix scorer chain each block's
hash to its parent's), so equal hashes mean equal whole prefixes, not just equal blocks. Only full blocks
are named.

* :func:`token_block_hashes` — token-exact, from token ids (a tokenizer is configured).
* :func:`char_block_hashes` — approximate, from text: a block is ``block_tokens * chars_per_token``
  characters (4 per token, the rule of :mod:`tokenfleet.gateway.tokens`). Two prompts that share a prefix
  share its character blocks, but block edges fall where 4 characters per token puts them, not on real
  token edges, so the hashes name *about* ``block_tokens`` tokens each.
* :func:`chain_hashes` — the same chaining over arbitrary block keys (the synthetic multi-turn workload
  names its blocks this way, so its hashes behave exactly like those of real prompts).
* :class:`PromptHasher` — what the gateway and the emulator call: token-exact with a ``tokenizers``
  tokenizer file, character blocks otherwise (:attr:`PromptHasher.exact` says which).

Mooncake traces carry their own hash ids (one per 512-token block, equal ids = equal blocks); the loaders
keep those as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenfleet.errors import InputError

CHARS_PER_TOKEN = 4  # the gateway's and the emulator's token estimate (tokenfleet.gateway.tokens)
_MASK = (1 << 63) - 1  # hashes fit an int64 column


def chain_hashes(keys: Iterable[bytes | str | int], parent: int = 0) -> tuple[int, ...]:
    """Chained hashes of a sequence of block keys (bytes, text or ints): hash ``i`` is BLAKE2b-64 of
    ``parent`` and every key up to ``i`` (each length-prefixed), computed incrementally."""
    h = hashlib.blake2b(parent.to_bytes(8, "little"), digest_size=8)
    out = []
    frm = int.from_bytes
    for k in keys:
        data = k if isinstance(k, bytes) else str(k).encode()
        h.update(len(data).to_bytes(4, "little"))
        h.update(data)
        out.append(frm(h.copy().digest(), "little") & _MASK)
    return tuple(out)


def token_block_hashes(token_ids: Sequence[int], block_tokens: int) -> tuple[int, ...]:
    """Hashes of the full ``block_tokens``-token blocks of a tokenised prompt (token-exact)."""
    if block_tokens < 1:
        raise InputError(f"block_tokens must be >= 1, got {block_tokens}", where="prefix")
    n, b = len(token_ids) // block_tokens, block_tokens
    return chain_hashes(
        b"".join(int(t).to_bytes(4, "little", signed=False) for t in token_ids[i * b : (i + 1) * b]) for i in range(n)
    )


def char_block_hashes(text: str, block_tokens: int, chars_per_token: int = CHARS_PER_TOKEN) -> tuple[int, ...]:
    """Approximate hashes: full blocks of ``block_tokens * chars_per_token`` characters of ``text``."""
    if block_tokens < 1:
        raise InputError(f"block_tokens must be >= 1, got {block_tokens}", where="prefix")
    w = block_tokens * chars_per_token
    return chain_hashes(text[i * w : (i + 1) * w] for i in range(len(text) // w))


class PromptHasher:
    """Block hashes of a prompt text: token-exact with a tokenizer file (the ``tokenizers`` package's
    ``tokenizer.json``, read locally, nothing downloaded), else :func:`char_block_hashes`."""

    __slots__ = ("_tok", "block_tokens", "exact", "source")

    def __init__(self, block_tokens: int, tokenizer: str | Path | None = None) -> None:
        if block_tokens < 1:
            raise InputError(f"block_tokens must be >= 1, got {block_tokens}", where="prefix.block_tokens")
        self.block_tokens = block_tokens
        self._tok: Any = None
        if tokenizer is not None:
            path = Path(tokenizer)
            if not path.is_file():
                raise InputError(f"tokenizer file {str(path)!r} not found", where="prefix.tokenizer")
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise InputError(
                    "a tokenizer file needs the 'tokenizers' package (pip install tokenizers)",
                    where="prefix.tokenizer",
                ) from None
            try:
                self._tok = Tokenizer.from_file(str(path))
            except Exception as exc:  # the library raises a bare Exception on a malformed file
                raise InputError(f"cannot read tokenizer {str(path)!r}: {exc}", where="prefix.tokenizer") from None
        self.exact = self._tok is not None
        self.source = (
            f"token-exact ({Path(str(tokenizer)).name}, {block_tokens}-token blocks)"
            if self.exact
            else f"approximate ({block_tokens * CHARS_PER_TOKEN}-character blocks ~ {block_tokens} tokens)"
        )

    def hashes(self, text: str) -> tuple[int, ...]:
        if self._tok is not None:
            ids = self._tok.encode(text, add_special_tokens=False).ids
            return token_block_hashes(ids, self.block_tokens)
        return char_block_hashes(text, self.block_tokens)


__all__ = [
    "CHARS_PER_TOKEN",
    "PromptHasher",
    "chain_hashes",
    "char_block_hashes",
    "token_block_hashes",
]
