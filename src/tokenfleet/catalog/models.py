"""Model architectures, loaded from packaged ``data/models.yaml`` (numbers from each model's published config).

Parameter counts are *derived* from the architecture (:meth:`ModelSpec.layer_params` and friends) and
checked in the tests against the published totals, which are kept as ``published_total_params`` /
``published_active_params``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelSpec:
    model_id: str
    name: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int  # intermediate size of a dense FFN layer (SwiGLU: 3 matrices)
    vocab: int
    max_context: int
    published_total_params: float
    published_active_params: float
    source_url: str
    # mixture of experts (0 experts = dense)
    n_experts: int = 0
    n_active_experts: int = 0
    n_shared_experts: int = 0
    expert_ffn_dim: int = 0
    n_dense_layers: int = 0  # MoE models: leading / interleaved layers with a dense FFN instead of experts
    # multi-head latent attention (DeepSeek); 0 = standard GQA attention
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    tied_embeddings: bool = False
    sliding_window: int = 0  # tokens; applies to ``sliding_layers`` layers
    sliding_layers: int = 0
    attention_sinks: bool = False  # learned per-head sink logits (gpt-oss): one extra score per head, no KV
    # softmax attention with a sigmoid output gate (Qwen3.5 / Qwen3-Next ``attn_output_gate``): the query
    # projection also produces the gate, twice its size
    attn_output_gate: bool = False
    # linear-attention layers (Qwen3.5's Gated DeltaNet, ``layer_types`` "linear_attention"): no KV cache that
    # grows with context, a fixed recurrent state per sequence of value_heads x key_head_dim x value_head_dim
    linear_attn_layers: int = 0
    linear_key_heads: int = 0
    linear_value_heads: int = 0
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    # weight precision the model is released in (what its checkpoint stores; vendors may serve another)
    native_precision: str = "bf16"
    native_precision_source: str = ""
    notes: str = ""

    # ---- derived architecture figures --------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.n_dense_layers if self.is_moe else 0

    @property
    def softmax_attn_layers(self) -> int:
        """Layers whose attention reads a KV cache of every context token (sliding-window layers included)."""
        return self.n_layers - self.linear_attn_layers

    @property
    def linear_attn_params_per_layer(self) -> float:
        """One linear-attention layer: q, k (key heads), v and the output gate z (value heads), the per-head
        decay and beta projections, the output projection (the 4-tap causal convolution is negligible)."""
        if not self.linear_attn_layers:
            return 0.0
        h = self.hidden
        qk = 2 * self.linear_key_heads * self.linear_key_head_dim
        vz = 2 * self.linear_value_heads * self.linear_value_head_dim
        return float(h * (qk + vz) + h * 2 * self.linear_value_heads
                     + self.linear_value_heads * self.linear_value_head_dim * h)

    def linear_state_elements(self) -> float:
        """Recurrent-state elements one sequence holds across the linear-attention layers (fixed, whatever its
        length): value_heads x key_head_dim x value_head_dim per layer."""
        return float(self.linear_attn_layers * self.linear_value_heads * self.linear_key_head_dim
                     * self.linear_value_head_dim)

    def linear_attn_flops_per_token(self) -> float:
        """FLOPs per token of the linear-attention recurrence (state decay, delta update, read-out: ~4 per
        state element per layer), independent of context."""
        return 4.0 * self.linear_state_elements()

    @property
    def attn_params_per_layer(self) -> float:
        """Parameters of one softmax-attention layer (``linear_attn_params_per_layer`` for the others)."""
        h = self.hidden
        if self.is_mla:
            qk_head = self.qk_nope_head_dim + self.qk_rope_head_dim
            q = (h * self.q_lora_rank + self.q_lora_rank * self.n_heads * qk_head) if self.q_lora_rank else (
                h * self.n_heads * qk_head)
            kv = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank * self.n_heads * (
                self.qk_nope_head_dim + self.v_head_dim)
            o = self.n_heads * self.v_head_dim * h
            return float(q + kv + o)
        q = h * self.n_heads * self.head_dim * (2 if self.attn_output_gate else 1)
        kv = 2 * h * self.n_kv_heads * self.head_dim
        o = self.n_heads * self.head_dim * h
        return float(q + kv + o)

    @property
    def expert_params(self) -> float:
        """Parameters of one routed expert (SwiGLU: gate, up, down)."""
        return 3.0 * self.hidden * self.expert_ffn_dim

    @property
    def dense_ffn_params(self) -> float:
        return 3.0 * self.hidden * self.ffn_dim

    @property
    def embedding_params(self) -> float:
        return float(self.vocab * self.hidden * (1 if self.tied_embeddings else 2))

    @property
    def router_params_per_moe_layer(self) -> float:
        return float(self.hidden * self.n_experts)

    @property
    def attention_params(self) -> float:
        """Attention weights of all layers (softmax and linear)."""
        return (self.softmax_attn_layers * self.attn_params_per_layer
                + self.linear_attn_layers * self.linear_attn_params_per_layer)

    @property
    def total_params(self) -> float:
        """All weights, derived from the architecture."""
        dense = self.attention_params + self.embedding_params
        if not self.is_moe:
            return dense + self.n_layers * self.dense_ffn_params
        moe_layer = (self.n_experts + self.n_shared_experts) * self.expert_params + self.router_params_per_moe_layer
        return dense + self.n_dense_layers * self.dense_ffn_params + self.n_moe_layers * moe_layer

    @property
    def active_params(self) -> float:
        """Weights touched by one token (the matmul FLOPs per token are 2x this, embedding lookup aside)."""
        if not self.is_moe:
            return self.total_params
        dense = self.attention_params + self.embedding_params
        moe_layer = ((self.n_active_experts + self.n_shared_experts) * self.expert_params
                     + self.router_params_per_moe_layer)
        return dense + self.n_dense_layers * self.dense_ffn_params + self.n_moe_layers * moe_layer

    @property
    def expert_params_total(self) -> float:
        """Weights in routed experts only (the part a small batch does not read in full)."""
        return float(self.n_moe_layers * self.n_experts * self.expert_params)

    @property
    def matmul_params_per_token(self) -> float:
        """Active weights that take part in a matmul for each token (input embedding lookup excluded)."""
        return self.active_params - self.vocab * self.hidden * (0 if self.tied_embeddings else 1)

    def kv_elements_per_token(self) -> float:
        """KV-cache elements stored per token of context, all layers (MLA caches the latent + rope key)."""
        if self.is_mla:
            return float(self.n_layers * (self.kv_lora_rank + self.qk_rope_head_dim))
        full_layers = self.softmax_attn_layers - self.sliding_layers
        return float(full_layers * 2 * self.n_kv_heads * self.head_dim)

    def sliding_kv_elements(self) -> float:
        """KV elements held by sliding-window layers, at most ``sliding_window`` tokens each."""
        return float(self.sliding_layers * 2 * self.n_kv_heads * self.head_dim * self.sliding_window)

    def attn_flops_per_context_token(self) -> float:
        """FLOPs per (query token x context token): QK^T and AV in every layer with a full window."""
        if self.is_mla:  # absorbed MLA: scores against the latent (rank + rope), values from the latent
            per_head = (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
            return 2.0 * self.n_layers * self.n_heads * per_head
        return 4.0 * (self.softmax_attn_layers - self.sliding_layers) * self.n_heads * self.head_dim
