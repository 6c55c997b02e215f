"""all-MiniLM-L6-v2 (a 6-layer, 384-d BERT) forward pass in numpy, float32 throughout.

Mirrors sentence-transformers' Transformer + mean Pooling modules (normalisation is the
caller's: see `memory.providers.embedder.LocalMiniLMEmbedder`). Texts are grouped by length
into padded chunks; Q, K and V come from one fused GEMM. No torch: the weights come from
`model.safetensors` via `safetensors.numpy`, the tokenizer from `tokenizer.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]


# Abramowitz & Stegun 7.1.26: erfc(z) ~= poly(t) * exp(-z^2), t = 1 / (1 + p z), z >= 0, with
# |error| <= 1.5e-7 -- below float32 resolution. The 0.5 of Phi(-|x|) = 0.5 * erfc(|x| / sqrt 2)
# is folded into the coefficients, and 1/sqrt(2) into p.
_GELU_P = np.float32(0.3275911 / math.sqrt(2.0))
_GELU_A = tuple(
    np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_GELU_BLOCK_ROWS = 32
# Added to the scores of padding keys; exp() of it underflows to exactly 0, as in transformers.
_MASKED_SCORE = np.float32(-1e9)


@dataclass(frozen=True)
class _EncoderLayer:
    qkv_weight: FloatArray  # (hidden, 3 * hidden); the query third is pre-scaled by 1/sqrt(d)
    qkv_bias: FloatArray
    attn_out_weight: FloatArray
    attn_out_bias: FloatArray
    attn_norm_weight: FloatArray
    attn_norm_bias: FloatArray
    ffn_in_weight: FloatArray
    ffn_in_bias: FloatArray
    ffn_out_weight: FloatArray
    ffn_out_bias: FloatArray
    ffn_norm_weight: FloatArray
    ffn_norm_bias: FloatArray


@dataclass(frozen=True)
class MiniLMModel:
    tokenizer: Any  # tokenizers.Tokenizer (untyped extension module)
    hidden_size: int
    num_heads: int
    norm_eps: float
    word_embeddings: FloatArray
    position_embeddings: FloatArray
    token_type_embedding: FloatArray  # row 0: sentence-transformers never sends segment B
    embed_norm_weight: FloatArray
    embed_norm_bias: FloatArray
    layers: tuple[_EncoderLayer, ...]


def _gelu_inplace(x: FloatArray) -> None:
    """Exact (erf) GELU, as BERT uses, x * Phi(x), on a 2-D array in place."""
    # Row blocks keep the temporaries in L2; on whole batches this is ~2x faster.
    for start in range(0, x.shape[0], _GELU_BLOCK_ROWS):
        _gelu_block(x[start : start + _GELU_BLOCK_ROWS])


def _gelu_block(x: FloatArray) -> None:
    # Branch-free form: x * Phi(x) = relu(x) - |x| * Phi(-|x|). Masks and np.where are ~3x
    # slower on real activations, whose signs are mixed.
    magnitude = np.abs(x)
    t = magnitude * _GELU_P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    a1, a2, a3, a4, a5 = _GELU_A
    tail = t * a5
    for coefficient in (a4, a3, a2, a1):
        tail += coefficient
        tail *= t
    np.square(x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    tail *= t  # Phi(-|x|)
    tail *= magnitude
    np.maximum(x, np.float32(0.0), out=x)
    x -= tail


def _layer_norm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    centred: FloatArray = x - x.mean(axis=-1, keepdims=True)
    variance = np.square(centred).mean(axis=-1, keepdims=True)
    centred *= 1.0 / np.sqrt(variance + np.float32(eps))
    centred *= weight
    centred += bias
    return centred


def _linear(x: FloatArray, weight: FloatArray, bias: FloatArray) -> FloatArray:
    out = x @ weight
    out += bias
    return out


def _softmax_inplace(scores: FloatArray) -> None:
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)


def _self_attention(
    model: MiniLMModel,
    layer: _EncoderLayer,
    x: FloatArray,
    batch: int,
    attn_bias: FloatArray | None,
) -> FloatArray:
    hidden, heads = model.hidden_size, model.num_heads
    seq_len = x.shape[0] // batch
    qkv = _linear(x, layer.qkv_weight, layer.qkv_bias)  # one GEMM for Q, K and V
    # (batch, seq, 3, heads, head_dim) -> (3, batch, heads, seq, head_dim), as strided views.
    q, k, v = qkv.reshape(batch, seq_len, 3, heads, hidden // heads).transpose(2, 0, 3, 1, 4)
    scores = q @ k.transpose(0, 1, 3, 2)
    if attn_bias is not None:
        scores += attn_bias
    _softmax_inplace(scores)
    context = scores @ v
    merged: FloatArray = context.transpose(0, 2, 1, 3).reshape(batch * seq_len, hidden)
    return merged


def _encoder_layer(
    model: MiniLMModel,
    layer: _EncoderLayer,
    x: FloatArray,
    batch: int,
    attn_bias: FloatArray | None,
) -> FloatArray:
    context = _self_attention(model, layer, x, batch, attn_bias)
    attended = _linear(context, layer.attn_out_weight, layer.attn_out_bias)
    attended += x
    x = _layer_norm(attended, layer.attn_norm_weight, layer.attn_norm_bias, model.norm_eps)
    inner = _linear(x, layer.ffn_in_weight, layer.ffn_in_bias)
    _gelu_inplace(inner)
    out = _linear(inner, layer.ffn_out_weight, layer.ffn_out_bias)
    out += x
    return _layer_norm(out, layer.ffn_norm_weight, layer.ffn_norm_bias, model.norm_eps)


def _encode_padded(model: MiniLMModel, ids: IntArray, mask: FloatArray) -> FloatArray:
    """Mean-pooled sentence vectors for one padded batch of token ids."""
    batch, seq_len = ids.shape
    x = model.word_embeddings[ids.reshape(-1)]
    x += np.tile(model.position_embeddings[:seq_len], (batch, 1))
    x += model.token_type_embedding
    x = _layer_norm(x, model.embed_norm_weight, model.embed_norm_bias, model.norm_eps)
    # Without padding (always the case for a single text) the mask changes nothing.
    attn_bias = None if mask.all() else ((1.0 - mask) * _MASKED_SCORE)[:, None, None, :]
    for layer in model.layers:
        x = _encoder_layer(model, layer, x, batch, attn_bias)
    summed = (mask[:, None, :] @ x.reshape(batch, seq_len, -1))[:, 0, :]
    counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    return np.asarray(summed / counts, dtype=np.float32)


def _pad(sequences: list[IntArray]) -> tuple[IntArray, FloatArray]:
    seq_len = max(len(seq) for seq in sequences)
    ids = np.zeros((len(sequences), seq_len), dtype=np.int64)
    mask = np.zeros((len(sequences), seq_len), dtype=np.float32)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1.0
    return ids, mask


def _plan_chunks(lengths: Sequence[int], batch_size: int, token_budget: int) -> list[list[int]]:
    """Group indices by similar length so that padding (wasted compute) stays small.

    A chunk holds at most `batch_size` texts and `token_budget` padded tokens, which bounds the
    memory of the (batch, heads, seq, seq) attention scores for long inputs.
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        # Ascending order: the newest member sets the chunk's padded length.
        padded_tokens = (len(current) + 1) * lengths[index]
        if current and (len(current) >= batch_size or padded_tokens > token_budget):
            chunks.append(current)
            current = []
        current.append(index)
    if current:
        chunks.append(current)
    return chunks


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _load_layer(tensors: dict[str, FloatArray], prefix: str, heads: int) -> _EncoderLayer:
    def weight(name: str) -> FloatArray:
        # torch Linear stores (out, in); x @ W.T wants (in, out), contiguous for BLAS.
        return np.ascontiguousarray(tensors[f"{prefix}.{name}.weight"].T, dtype=np.float32)

    def vector(name: str) -> FloatArray:
        return np.ascontiguousarray(tensors[f"{prefix}.{name}"], dtype=np.float32)

    query_w, query_b = weight("attention.self.query"), vector("attention.self.query.bias")
    scale = np.float32(1.0 / math.sqrt(query_w.shape[1] // heads))
    return _EncoderLayer(
        qkv_weight=np.ascontiguousarray(
            np.concatenate(
                [query_w * scale, weight("attention.self.key"), weight("attention.self.value")],
                axis=1,
            )
        ),
        qkv_bias=np.concatenate(
            [
                query_b * scale,
                vector("attention.self.key.bias"),
                vector("attention.self.value.bias"),
            ]
        ),
        attn_out_weight=weight("attention.output.dense"),
        attn_out_bias=vector("attention.output.dense.bias"),
        attn_norm_weight=vector("attention.output.LayerNorm.weight"),
        attn_norm_bias=vector("attention.output.LayerNorm.bias"),
        ffn_in_weight=weight("intermediate.dense"),
        ffn_in_bias=vector("intermediate.dense.bias"),
        ffn_out_weight=weight("output.dense"),
        ffn_out_bias=vector("output.dense.bias"),
        ffn_norm_weight=vector("output.LayerNorm.weight"),
        ffn_norm_bias=vector("output.LayerNorm.bias"),
    )


def _load_tokenizer(model_dir: Path, max_seq_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json ships with truncation at 128 and fixed padding to 128; sentence-transformers
    # overrides both (max_seq_length, pad to the longest), and so do we.
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.no_padding()
    return tokenizer


def load_minilm(model_dir: Path) -> MiniLMModel:
    """Weights, config and tokenizer from a sentence-transformers model directory."""
    from safetensors.numpy import load_file

    if not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"no all-MiniLM-L6-v2 weights in {model_dir}")
    config = _read_json(model_dir / "config.json")
    st_config = _read_json(model_dir / "sentence_bert_config.json")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_dir}: only mean pooling is supported")
    tensors = load_file(str(model_dir / "model.safetensors"))
    # Some exports prefix every tensor with "bert."; accept both layouts.
    tensors = {name.removeprefix("bert."): value for name, value in tensors.items()}
    heads = int(config["num_attention_heads"])

    def vector(name: str) -> FloatArray:
        return np.ascontiguousarray(tensors[name], dtype=np.float32)

    return MiniLMModel(
        tokenizer=_load_tokenizer(model_dir, int(st_config["max_seq_length"])),
        hidden_size=int(config["hidden_size"]),
        num_heads=heads,
        norm_eps=float(config["layer_norm_eps"]),
        word_embeddings=vector("embeddings.word_embeddings.weight"),
        position_embeddings=vector("embeddings.position_embeddings.weight"),
        token_type_embedding=vector("embeddings.token_type_embeddings.weight")[0].copy(),
        embed_norm_weight=vector("embeddings.LayerNorm.weight"),
        embed_norm_bias=vector("embeddings.LayerNorm.bias"),
        layers=tuple(
            _load_layer(tensors, f"encoder.layer.{i}", heads)
            for i in range(int(config["num_hidden_layers"]))
        ),
    )


def encode_texts(
    model: MiniLMModel, texts: Sequence[str], *, batch_size: int, token_budget: int
) -> FloatArray:
    """Mean-pooled (not yet normalised) vectors, one row per text, in input order."""
    out = np.zeros((len(texts), model.hidden_size), dtype=np.float32)
    # encode() rather than encode_batch(): the latter spins up a Rust thread pool, ignoring
    # the process's one-thread budget and misbehaving after a fork.
    sequences = [np.asarray(model.tokenizer.encode(text).ids, dtype=np.int64) for text in texts]
    lengths = [len(seq) for seq in sequences]
    for chunk in _plan_chunks(lengths, batch_size, token_budget):
        ids, mask = _pad([sequences[i] for i in chunk])
        out[chunk] = _encode_padded(model, ids, mask)
    return out
