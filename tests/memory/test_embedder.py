"""Embedders: the local MiniLM must reproduce sentence-transformers exactly enough that vectors
stored by either are interchangeable; the remote embedder must turn every failure of the
endpoint into an EmbeddingError that says what went wrong. No database needed."""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from memory.providers import embedder as embedder_module
from memory.providers.embedder import (
    EmbeddingError,
    LocalMiniLMEmbedder,
    OpenAICompatibleEmbedder,
    embedder_from_settings,
    get_embedder,
    reset_embedder_cache,
)
from tests.support.fake_openai import FakeOpenAIServer, FakeReply, fake_embedding

REFERENCE = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json").read_text()
)
SENTENCES: list[str] = REFERENCE["sentences"]
VECTORS = np.asarray(REFERENCE["vectors"], dtype=np.float32)
LONG_SENTENCE = (
    "During the quarterly planning meeting the user explained at length that the team will "
    "migrate every service from the legacy monolith to small Python services over the year."
)


def assert_matches_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    assert float(actual @ expected) >= 0.9999
    assert float(np.abs(actual - expected).max()) <= 1e-4


# int8 weights move a vector by ~1% (cosine ~0.99 to fp32); 0.98 leaves room for short inputs.
INT8_MIN_COSINE = 0.98


@pytest.fixture(scope="module")
def fp32() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(precision="fp32")


@pytest.fixture(scope="module")
def int8() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder(precision="int8")


@pytest.fixture(scope="module", params=["int8", "fp32"])
def local(request: pytest.FixtureRequest) -> LocalMiniLMEmbedder:
    embedder: LocalMiniLMEmbedder = request.getfixturevalue(request.param)
    return embedder


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def remote(server: FakeOpenAIServer, **overrides: Any) -> OpenAICompatibleEmbedder:
    options: dict[str, Any] = {
        "model": "text-embedding-3-small",
        "dimension": 384,
        "api_key": "test-key",
        "base_url": server.base_url,
        "timeout": 5.0,
        "max_retries": 0,
    }
    options.update(overrides)
    return OpenAICompatibleEmbedder(**options)


# --- local all-MiniLM-L6-v2 --------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(SENTENCES)), ids=lambda i: SENTENCES[i][:20])
def test_fp32_embedding_of_one_sentence_matches_sentence_transformers(
    fp32: LocalMiniLMEmbedder, index: int
) -> None:
    assert_matches_reference(fp32.embed_one(SENTENCES[index]), VECTORS[index])


def test_fp32_embeddings_match_sentence_transformers_in_a_padded_batch(
    fp32: LocalMiniLMEmbedder,
) -> None:
    # The long sentence forces every reference sentence to be padded within the batch.
    texts = [LONG_SENTENCE, *reversed(SENTENCES)]
    vectors = fp32.embed(texts)
    for offset, expected in enumerate(VECTORS[::-1], start=1):
        assert_matches_reference(vectors[offset], expected)


def test_int8_embeddings_stay_close_to_sentence_transformers_alone_and_padded(
    int8: LocalMiniLMEmbedder,
) -> None:
    alone = np.stack([int8.embed_one(sentence) for sentence in SENTENCES])
    padded = int8.embed([LONG_SENTENCE, *SENTENCES])[1:]
    for vectors in (alone, padded):
        cosines = np.sum(vectors * VECTORS, axis=1)
        assert cosines.min() >= INT8_MIN_COSINE, cosines
    # Activations are quantized per call, so int8 embeds one text per call: a text's vector
    # must not depend on what it was batched with.
    np.testing.assert_array_equal(padded, alone)


def test_int8_and_fp32_rank_a_corpus_alike(
    int8: LocalMiniLMEmbedder, fp32: LocalMiniLMEmbedder
) -> None:
    """Stored vectors of either precision stay searchable with queries of the other."""
    corpus = [
        "The user prefers Python over JavaScript.",
        "Alice is vegetarian and allergic to nuts.",
        "Bob moved to the Berlin office in March.",
        "The team ships a release every second Friday.",
        "My sister's birthday is on the fourth of July.",
        "The user runs five kilometres every morning.",
    ]
    queries = [
        "Which language does the user like?",
        "What can't Alice eat?",
        "Where does Bob work now?",
        "When are releases?",
        "When is the birthday?",
        "What exercise does the user do?",
    ]
    stored = fp32.embed(corpus)
    for expected, query in enumerate(queries):
        assert int(np.argmax(stored @ int8.embed_one(query))) == expected, query
        assert int(np.argmax(int8.embed(corpus) @ fp32.embed_one(query))) == expected, query


def test_the_built_model_is_cached_and_reused(tmp_path: Path) -> None:
    from memory.providers import minilm

    model_dir = Path(embedder_module._default_model_dir())
    first = minilm.load_minilm(model_dir, precision="int8", cache_dir=tmp_path)
    (cached,) = tmp_path.glob("minilm-int8-*.onnx")
    built_at = cached.stat().st_mtime_ns
    second = minilm.load_minilm(model_dir, precision="int8", cache_dir=tmp_path)
    assert cached.stat().st_mtime_ns == built_at  # read, not rebuilt
    ids = np.asarray([first.tokenizer.encode("Berlin").ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones(ids.shape, dtype=np.float32)}
    np.testing.assert_array_equal(
        first.session.run(None, feed)[0], second.session.run(None, feed)[0]
    )


def test_an_unwritable_cache_directory_still_gives_a_working_model(tmp_path: Path) -> None:
    from memory.providers import minilm

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    runtime = minilm.load_minilm(
        Path(embedder_module._default_model_dir()), precision="fp32", cache_dir=blocked / "models"
    )
    pooled = minilm.encode_texts(runtime, [SENTENCES[0]], batch_size=1, token_budget=256)[0]
    assert_matches_reference(pooled / np.linalg.norm(pooled), VECTORS[0])


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="int8, fp32"):
        LocalMiniLMEmbedder(precision="int4")  # type: ignore[arg-type]


def test_small_chunks_give_the_same_vectors_as_one_batch(local: LocalMiniLMEmbedder) -> None:
    chunked = LocalMiniLMEmbedder(precision=local.precision, batch_size=2, max_tokens_per_chunk=32)
    texts = [*SENTENCES, LONG_SENTENCE, "", "Berlin"]
    np.testing.assert_allclose(chunked.embed(texts), local.embed(texts), atol=1e-5)


def test_local_embeddings_are_float32_unit_vectors(local: LocalMiniLMEmbedder) -> None:
    vectors = local.embed([*SENTENCES, ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(SENTENCES) + 1, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.embed_one("Berlin").shape == (384,)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(local: LocalMiniLMEmbedder) -> None:
    fact, paraphrase, unrelated = local.embed(
        [
            "The user prefers Python over JavaScript.",
            "I like coding in Python more than in JavaScript.",
            "The weather in Lisbon was sunny on Sunday.",
        ]
    )
    assert fact @ paraphrase > fact @ unrelated + 0.3


def test_local_embeddings_are_deterministic(local: LocalMiniLMEmbedder) -> None:
    first = local.embed_one(SENTENCES[0])
    assert np.array_equal(first, local.embed_one(SENTENCES[0]))
    assert np.array_equal(
        first, LocalMiniLMEmbedder(precision=local.precision).embed_one(SENTENCES[0])
    )


def test_concurrent_callers_get_the_same_vectors(local: LocalMiniLMEmbedder) -> None:
    texts = [*SENTENCES, LONG_SENTENCE] * 2
    sequential = [local.embed_one(text) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(local.embed_one, texts))
    for one, other in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(one, other, atol=1e-6)


def test_input_beyond_256_tokens_is_truncated_not_an_error(local: LocalMiniLMEmbedder) -> None:
    long_text = " ".join(["memory"] * 2000)
    vector = local.embed_one(long_text)
    assert np.isfinite(vector).all()
    # Everything past the model's 256-token window is ignored, as sentence-transformers does.
    np.testing.assert_allclose(vector, local.embed_one(long_text + " pineapple"), atol=1e-6)


def test_empty_list_gives_an_empty_matrix(local: LocalMiniLMEmbedder) -> None:
    vectors = local.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_rejected_rather_than_embedded_per_character(
    local: LocalMiniLMEmbedder,
) -> None:
    with pytest.raises(TypeError, match="embed_one"):
        local.embed("Berlin")


# --- OpenAI-compatible endpoint, through the real openai SDK ------------------------------------


def test_remote_embeddings_are_the_endpoints_vectors_in_input_order(
    fake_server: FakeOpenAIServer,
) -> None:
    texts = ["User likes green tea", "User likes tea", "Meeting moved to Friday"]
    vectors = remote(fake_server).embed(texts)
    assert vectors.dtype == np.float32
    expected = np.asarray([fake_embedding(text) for text in texts], dtype=np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    (request,) = fake_server.requests
    assert request.path == "/v1/embeddings"
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["input"] == texts
    assert request.headers["authorization"] == "Bearer test-key"


def test_remote_embed_one_returns_one_vector(fake_server: FakeOpenAIServer) -> None:
    vector = remote(fake_server).embed_one("Berlin")
    np.testing.assert_allclose(vector, fake_embedding("Berlin"), atol=1e-6)


def test_remote_rows_are_normalised_even_if_the_endpoint_does_not(
    fake_server: FakeOpenAIServer,
) -> None:
    body = {"object": "list", "model": "m", "data": [{"index": 0, "embedding": [3.0, 4.0]}]}
    fake_server.fail_embeddings = FakeReply(raw=json.dumps(body).encode())
    vector = remote(fake_server, dimension=2).embed_one("x")
    np.testing.assert_allclose(vector, [0.6, 0.8], atol=1e-6)


def test_more_than_256_inputs_are_sent_in_batches(fake_server: FakeOpenAIServer) -> None:
    texts = [f"fact number {i} about topic {i % 7}" for i in range(600)]
    vectors = remote(fake_server).embed(texts)
    assert [len(request.body["input"]) for request in fake_server.requests] == [256, 256, 88]
    assert vectors.shape == (600, 384)
    np.testing.assert_allclose(vectors[257], fake_embedding(texts[257]), atol=1e-6)
    np.testing.assert_allclose(vectors[599], fake_embedding(texts[599]), atol=1e-6)


def test_remote_empty_list_makes_no_request(fake_server: FakeOpenAIServer) -> None:
    assert remote(fake_server).embed([]).shape == (0, 384)
    assert fake_server.requests == []


def test_wrong_dimension_from_the_endpoint_is_an_error_naming_both_sizes() -> None:
    with (
        FakeOpenAIServer(embedding_dim=1536) as server,
        pytest.raises(EmbeddingError, match=r"1536-dimensional.*384"),
    ):
        remote(server).embed(["Berlin"])


def test_http_error_from_the_endpoint_is_an_embedding_error(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.fail_embeddings = FakeReply(status=503)
    with pytest.raises(EmbeddingError, match="HTTP 503"):
        remote(fake_server).embed(["Berlin"])


def test_malformed_payload_is_an_embedding_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.fail_embeddings = FakeReply(raw=b"not json")
    with pytest.raises(EmbeddingError, match="malformed"):
        remote(fake_server).embed(["Berlin"])


def test_missing_vectors_are_an_embedding_error(fake_server: FakeOpenAIServer) -> None:
    body = {"object": "list", "model": "m", "data": [{"index": 0, "embedding": [1.0] * 384}]}
    fake_server.fail_embeddings = FakeReply(raw=json.dumps(body).encode())
    with pytest.raises(EmbeddingError, match="1 vectors for 2 inputs"):
        remote(fake_server).embed(["one", "two"])


def test_slow_endpoint_fails_with_a_timeout_error_within_the_timeout(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.fail_embeddings = FakeReply(delay=10.0)
    started = time.monotonic()
    with pytest.raises(EmbeddingError, match=r"timed out after 0\.5s"):
        remote(fake_server, timeout=0.5).embed(["Berlin"])
    assert time.monotonic() - started < 2.0


def test_unreachable_endpoint_is_an_error_that_does_not_leak_url_credentials() -> None:
    with FakeOpenAIServer() as server:
        base_url = server.base_url.replace("http://", "http://user:hunter2@")
    with pytest.raises(EmbeddingError, match="unreachable") as error:
        OpenAICompatibleEmbedder(
            model="m", dimension=384, api_key="k", base_url=base_url, max_retries=0
        ).embed(["Berlin"])
    assert "hunter2" not in str(error.value)


# --- choosing the embedder from settings --------------------------------------------------------


def test_local_embedder_is_the_default() -> None:
    embedder = embedder_from_settings(SimpleNamespace())
    assert isinstance(embedder, LocalMiniLMEmbedder)
    assert (embedder.model_name, embedder.dimension) == ("all-MiniLM-L6-v2", 384)
    assert embedder.precision == "int8"


def test_the_local_precision_comes_from_settings() -> None:
    embedder = embedder_from_settings(SimpleNamespace(ENGRAM_EMBEDDER_PRECISION="FP32"))
    assert isinstance(embedder, LocalMiniLMEmbedder)
    assert embedder.precision == "fp32"


def test_openai_embedder_falls_back_to_the_openai_settings(
    fake_server: FakeOpenAIServer,
) -> None:
    config = SimpleNamespace(
        ENGRAM_EMBEDDER="openai",
        ENGRAM_EMBEDDING_DIM=384,
        ENGRAM_EMBEDDING_MODEL="text-embedding-3-small",
        ENGRAM_EMBEDDING_BASE_URL="",
        ENGRAM_EMBEDDING_API_KEY="",
        OPENAI_BASE_URL=fake_server.base_url,
        OPENAI_API_KEY="fallback-key",
        ENGRAM_OUTBOUND_TIMEOUT=3.0,
    )
    embedder = embedder_from_settings(config)
    assert embedder.model_name == "text-embedding-3-small"
    embedder.embed(["Berlin"])
    assert fake_server.requests[0].headers["authorization"] == "Bearer fallback-key"


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"ENGRAM_EMBEDDER": "word2vec"}, "must be 'local' or 'openai'"),
        ({"ENGRAM_EMBEDDING_DIM": 768}, "ENGRAM_EMBEDDING_DIM is 768"),
        ({"ENGRAM_EMBEDDING_MODEL": "text-embedding-3-small"}, "ENGRAM_EMBEDDER=openai"),
        ({"ENGRAM_EMBEDDER": "openai", "ENGRAM_EMBEDDING_MODEL": "m"}, "OPENAI_API_KEY"),
        ({"ENGRAM_EMBEDDER_PRECISION": "fp16"}, "ENGRAM_EMBEDDER_PRECISION must be one of"),
    ],
)
def test_misconfiguration_is_reported_by_setting_name(
    config: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        embedder_from_settings(SimpleNamespace(**config))


def test_get_embedder_is_one_instance_per_process_until_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("django.conf.settings", SimpleNamespace(ENGRAM_EMBEDDER="local"))
    monkeypatch.setattr(embedder_module, "_EMBEDDER", None)
    first = get_embedder()
    assert get_embedder() is first
    reset_embedder_cache()
    assert get_embedder() is not first
    reset_embedder_cache()
