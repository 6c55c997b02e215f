"""all-MiniLM-L6-v2 (a 6-layer, 384-d BERT) run by onnxruntime, from the bundled weights.

The ONNX graph is written here, node by node, from `model.safetensors`: nothing is downloaded
and no torch is needed. It mirrors sentence-transformers' Transformer + mean Pooling modules
(normalisation is the caller's: see `memory.providers.embedder.LocalMiniLMEmbedder`).

Two precisions:
- `fp32` reproduces sentence-transformers to ~1e-6;
- `int8` (the default) quantizes the weights of the dense layers, per output channel, and the
  activations dynamically. Its vectors have cosine >= 0.98 to fp32 ones, so both kinds of stored
  vectors stay comparable, and it runs ~3x faster: a one-sentence query takes ~1.2 ms on one
  core instead of ~3.7 ms (fp32) or ~8 ms (the numpy forward pass this replaced). At batch size
  1, fp32 inference is bound by reading 42 MB of weights per call; int8 weights fit in L3.

Built models are cached on disk (`cache_dir`), keyed by the weights, precision and library
versions, so a process starts in ~0.3 s rather than ~2 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]
Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")

logger = logging.getLogger(__name__)

# Bump when the graph below changes, so that cached models are rebuilt.
_GRAPH_VERSION = "1"
_OPSET = 20  # LayerNormalization (17) and Gelu (20) as single operators
# Added to the scores of padding keys; exp() of it underflows to exactly 0, as in transformers.
_MASKED_SCORE = -1e9


@dataclass(frozen=True)
class MiniLMRuntime:
    """A tokenizer and an onnxruntime session; `session.run` is thread-safe and releases the GIL."""

    tokenizer: Any  # tokenizers.Tokenizer (untyped extension module)
    session: Any  # onnxruntime.InferenceSession
    hidden_size: int
    precision: Precision


# --- Graph ---------------------------------------------------------------------------------------


class _GraphWriter:
    """Collects ONNX nodes and initializers; each node is named after its first output."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, name: str, value: Any) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attributes: Any) -> str:
        from onnx import helper

        node = helper.make_node(op_type, inputs, [output], name=output, **attributes)
        self.nodes.append(node)
        return output


def _torch_linear(tensors: dict[str, FloatArray], name: str) -> FloatArray:
    # torch Linear stores (out, in); MatMul wants (in, out).
    return np.ascontiguousarray(tensors[f"{name}.weight"].T, dtype=np.float32)


def _vector(tensors: dict[str, FloatArray], name: str) -> FloatArray:
    return np.ascontiguousarray(tensors[name], dtype=np.float32)


def _dense(g: _GraphWriter, x: str, tensors: dict[str, FloatArray], name: str, out: str) -> str:
    product = g.op("MatMul", [x, g.const(f"{out}.w", _torch_linear(tensors, name))], f"{out}.mm")
    return g.op("Add", [product, g.const(f"{out}.b", _vector(tensors, f"{name}.bias"))], out)


def _layer_norm(
    g: _GraphWriter, x: str, tensors: dict[str, FloatArray], name: str, eps: float, out: str
) -> str:
    weight = g.const(f"{out}.w", _vector(tensors, f"{name}.weight"))
    bias = g.const(f"{out}.b", _vector(tensors, f"{name}.bias"))
    return g.op("LayerNormalization", [x, weight, bias], out, axis=-1, epsilon=eps)


def _attention(
    g: _GraphWriter, x: str, tensors: dict[str, FloatArray], prefix: str, heads: int
) -> str:
    p = f"{prefix}.attention.self"
    query_w = _torch_linear(tensors, f"{p}.query")
    # One GEMM for Q, K and V; the query third is pre-scaled by 1/sqrt(head_dim).
    scale = np.float32(1.0 / math.sqrt(query_w.shape[1] // heads))
    qkv_w = np.concatenate(
        [query_w * scale, _torch_linear(tensors, f"{p}.key"), _torch_linear(tensors, f"{p}.value")],
        axis=1,
    )
    qkv_b = np.concatenate(
        [
            _vector(tensors, f"{p}.query.bias") * scale,
            _vector(tensors, f"{p}.key.bias"),
            _vector(tensors, f"{p}.value.bias"),
        ]
    )
    qkv = g.op("MatMul", [x, g.const(f"{prefix}.qkv.w", qkv_w)], f"{prefix}.qkv.mm")
    qkv = g.op("Add", [qkv, g.const(f"{prefix}.qkv.b", qkv_b)], f"{prefix}.qkv")
    # (batch, seq, 3, heads, head_dim) -> (3, batch, heads, seq, head_dim)
    split = g.op("Reshape", [qkv, "qkv_shape"], f"{prefix}.qkv5")
    split = g.op("Transpose", [split], f"{prefix}.qkvT", perm=[2, 0, 3, 1, 4])
    q, k, v = (
        g.op("Gather", [split, g.const(f"{prefix}.{part}.index", np.int64(i))], f"{prefix}.{part}")
        for i, part in enumerate("qkv")
    )
    k_t = g.op("Transpose", [k], f"{prefix}.kT", perm=[0, 1, 3, 2])
    # Activation x activation products: excluded from quantization by their ".attn" suffix.
    scores = g.op("MatMul", [q, k_t], f"{prefix}.scores.attn")
    scores = g.op("Add", [scores, "attention_bias"], f"{prefix}.masked_scores")
    probs = g.op("Softmax", [scores], f"{prefix}.probs", axis=-1)
    context = g.op("MatMul", [probs, v], f"{prefix}.context.attn")
    context = g.op("Transpose", [context], f"{prefix}.contextT", perm=[0, 2, 1, 3])
    return g.op("Reshape", [context, "merge_shape"], f"{prefix}.merged")


def _encoder_layer(
    g: _GraphWriter, x: str, tensors: dict[str, FloatArray], index: int, heads: int, eps: float
) -> str:
    prefix = f"encoder.layer.{index}"
    context = _attention(g, x, tensors, prefix, heads)
    attended = _dense(g, context, tensors, f"{prefix}.attention.output.dense", f"{prefix}.ao")
    attended = g.op("Add", [attended, x], f"{prefix}.residual1")
    x = _layer_norm(
        g, attended, tensors, f"{prefix}.attention.output.LayerNorm", eps, f"{prefix}.norm1"
    )
    inner = _dense(g, x, tensors, f"{prefix}.intermediate.dense", f"{prefix}.ffn_in")
    inner = g.op("Gelu", [inner], f"{prefix}.gelu")  # exact (erf) GELU, as BERT uses
    out = _dense(g, inner, tensors, f"{prefix}.output.dense", f"{prefix}.ffn_out")
    out = g.op("Add", [out, x], f"{prefix}.residual2")
    return _layer_norm(g, out, tensors, f"{prefix}.output.LayerNorm", eps, f"{prefix}.norm2")


def build_graph(model_dir: Path) -> Any:
    """The fp32 ONNX model (onnx.ModelProto) of a sentence-transformers MiniLM directory.

    Inputs: input_ids (int64, batch x seq), attention_mask (float32, batch x seq, 1 = token).
    Output: pooled (float32, batch x hidden), the mean of the token vectors under the mask.
    """
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    config = _read_json(model_dir / "config.json")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_dir}: only mean pooling is supported")
    # Some exports prefix every tensor with "bert."; accept both layouts.
    tensors = {
        name.removeprefix("bert."): value
        for name, value in load_file(str(model_dir / "model.safetensors")).items()
    }
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config["layer_norm_eps"])

    g = _GraphWriter()
    g.const("qkv_shape", np.array([0, 0, 3, heads, hidden // heads], dtype=np.int64))
    g.const("merge_shape", np.array([0, 0, hidden], dtype=np.int64))
    g.const("axis0", np.array([0], dtype=np.int64))
    g.const("axis1", np.array([1], dtype=np.int64))
    g.const("axes12", np.array([1, 2], dtype=np.int64))

    # Embeddings: word + position + segment A (sentence-transformers never sends segment B).
    words = g.op(
        "Gather",
        [
            g.const("word_embeddings", _vector(tensors, "embeddings.word_embeddings.weight")),
            "input_ids",
        ],
        "words",
    )
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    positions = g.op(
        "Slice",
        [
            g.const(
                "position_embeddings", _vector(tensors, "embeddings.position_embeddings.weight")
            ),
            "axis0",
            seq_len,
            "axis0",
        ],
        "positions",
    )
    segment = _vector(tensors, "embeddings.token_type_embeddings.weight")[0]
    x = g.op("Add", [words, positions], "words_positions")
    x = g.op("Add", [x, g.const("segment_a", segment)], "embedded")
    x = _layer_norm(g, x, tensors, "embeddings.LayerNorm", eps, "embeddings.norm")

    # Padding keys get a large negative score: (1 - mask) * -1e9, shaped (batch, 1, 1, seq).
    unmasked = g.op("Sub", [g.const("one", np.float32(1.0)), "attention_mask"], "padding")
    bias = g.op("Mul", [unmasked, g.const("masked_score", np.float32(_MASKED_SCORE))], "bias2")
    g.op("Unsqueeze", [bias, "axes12"], "attention_bias")

    for index in range(int(config["num_hidden_layers"])):
        x = _encoder_layer(g, x, tensors, index, heads, eps)

    # Mean pooling under the mask: (batch, 1, seq) @ (batch, seq, hidden) / token count.
    mask3 = g.op("Unsqueeze", ["attention_mask", "axis1"], "mask3")
    summed = g.op("MatMul", [mask3, x], "summed3.attn")
    summed = g.op("Squeeze", [summed, "axis1"], "summed")
    counts = g.op("ReduceSum", ["attention_mask", "axis1"], "token_counts", keepdims=1)
    counts = g.op("Max", [counts, g.const("min_count", np.float32(1e-9))], "safe_counts")
    g.op("Div", [summed, counts], "pooled")

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 10  # the newest onnxruntime 1.2x reads
    onnx.checker.check_model(model, full_check=True)
    return model


def _write_model(model_dir: Path, precision: Precision, target: Path) -> None:
    """Build the model of `precision` into the file `target`."""
    import onnx

    model = build_graph(model_dir)
    if precision == "fp32":
        onnx.save(model, str(target))
        return
    with tempfile.TemporaryDirectory(prefix="engram-minilm-") as workdir:
        source = Path(workdir) / "fp32.onnx"
        onnx.save(model, str(source))
        # The quantizer logs a line per tensor on the root logger; this runs once per build.
        logging.disable(logging.WARNING)
        try:
            _quantize_dynamic(source, target, model)
        finally:
            logging.disable(logging.NOTSET)


def _quantize_dynamic(source: Path, target: Path, model: Any) -> None:
    """int8 weights (per output channel) for the dense layers; activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        source,
        target,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=[node.name for node in model.graph.node if node.name.endswith(".attn")],
    )


def _cache_key(model_dir: Path, precision: Precision) -> str:
    import onnx
    import onnxruntime

    weights = (model_dir / "model.safetensors").stat()
    parts = [
        _GRAPH_VERSION,
        precision,
        str(model_dir.resolve()),
        str(weights.st_size),
        str(weights.st_mtime_ns),
        onnx.__version__,
        onnxruntime.__version__,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _cached_model(model_dir: Path, precision: Precision, cache_dir: Path) -> Path | None:
    """The cached model file, built on a miss; None when the cache directory is unusable."""
    path = cache_dir / f"minilm-{precision}-{_cache_key(model_dir, precision)}.onnx"
    if path.is_file():
        return path
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Build-then-rename: a process starting at the same moment never reads half a file.
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as workdir:
            built = Path(workdir) / path.name
            _write_model(model_dir, precision, built)
            os.replace(built, path)
    except OSError as exc:
        logger.warning("cannot cache the embedding model in %s: %s", cache_dir, exc)
        return None
    return path


def _session_for(model_dir: Path, precision: Precision, cache_dir: Path | None) -> Any:
    # Sessions load from a file, not from bytes: onnxruntime then keeps no second copy of the
    # serialized model, which halves the memory it adds to the process (~75 MB for int8).
    cached = _cached_model(model_dir, precision, cache_dir) if cache_dir is not None else None
    if cached is not None:
        return _session(cached)
    # A read-only image still works; it builds the model at every start (~2 s).
    with tempfile.TemporaryDirectory(prefix="engram-minilm-") as workdir:
        path = Path(workdir) / "model.onnx"
        _write_model(model_dir, precision, path)
        return _session(path)


def _session(model: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: each web or worker process is one core's worth of work (see gunicorn.conf).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _load_tokenizer(model_dir: Path, max_seq_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json ships with truncation at 128 and fixed padding to 128; sentence-transformers
    # overrides both (max_seq_length, pad to the longest), and so do we.
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.no_padding()
    return tokenizer


def load_minilm(
    model_dir: Path, *, precision: Precision = "int8", cache_dir: Path | None = None
) -> MiniLMRuntime:
    """Tokenizer and inference session for a sentence-transformers MiniLM directory."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"no all-MiniLM-L6-v2 weights in {model_dir}")
    config = _read_json(model_dir / "config.json")
    st_config = _read_json(model_dir / "sentence_bert_config.json")
    return MiniLMRuntime(
        tokenizer=_load_tokenizer(model_dir, int(st_config["max_seq_length"])),
        session=_session_for(model_dir, precision, cache_dir),
        hidden_size=int(config["hidden_size"]),
        precision=precision,
    )


# --- Inference -----------------------------------------------------------------------------------


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


def encode_texts(
    runtime: MiniLMRuntime, texts: Sequence[str], *, batch_size: int, token_budget: int
) -> FloatArray:
    """Mean-pooled (not yet normalised) vectors, one row per text, in input order."""
    if runtime.precision == "int8":
        # Dynamic quantization scales activations per call, so a text's vector would depend on
        # its batch companions (cosine down to ~0.97 for short texts). One text per call keeps
        # every vector a function of its text alone, and costs only ~20% of bulk throughput:
        # there is no padding to compute.
        batch_size = 1
    out = np.zeros((len(texts), runtime.hidden_size), dtype=np.float32)
    # encode() rather than encode_batch(): the latter spins up a Rust thread pool, ignoring
    # the process's one-thread budget and misbehaving after a fork.
    sequences = [np.asarray(runtime.tokenizer.encode(text).ids, dtype=np.int64) for text in texts]
    lengths = [len(seq) for seq in sequences]
    for chunk in _plan_chunks(lengths, batch_size, token_budget):
        ids, mask = _pad([sequences[i] for i in chunk])
        (pooled,) = runtime.session.run(None, {"input_ids": ids, "attention_mask": mask})
        out[chunk] = pooled
    return out


_RUNTIMES: dict[tuple[Path, Precision], MiniLMRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def shared_runtime(model_dir: Path, precision: Precision, cache_dir: Path | None) -> MiniLMRuntime:
    """One runtime per model and precision per process: sessions are immutable and
    thread-safe, so every embedder instance and thread shares them."""
    key = (model_dir, precision)
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        with _RUNTIMES_LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = load_minilm(model_dir, precision=precision, cache_dir=cache_dir)
                _RUNTIMES[key] = runtime
    return runtime
