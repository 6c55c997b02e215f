"""Optional LLM reranking (`rerank: true`) through the OpenAI-compatible provider.

The model sees the query and the candidate texts (numbered, never ids) and returns the
numbers in order of relevance as JSON. Anything unexpected (no provider, timeout, malformed
output) leaves the fused order unchanged and says why in the score breakdown.
"""

import json
import logging
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)
MAX_RERANK_CANDIDATES = 20
PROMPT = (
    "You rank memories by how useful they are for answering a query. Reply with JSON "
    '{"order": [numbers of the memories, most relevant first]}; omit irrelevant ones.'
)


@dataclass(frozen=True)
class RerankOutcome:
    order: list[int] | None  # indices into the candidates, best first; None = unchanged
    status: str  # "reranked", "unavailable" or "failed"


def rerank_available() -> bool:
    return bool(settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY)


def llm_rerank(query: str, texts: list[str]) -> RerankOutcome:
    if not rerank_available():
        return RerankOutcome(None, "unavailable")
    import openai

    listing = "\n".join(f"{i + 1}. {text[:500]}" for i, text in enumerate(texts))
    client = openai.OpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or "not-needed",
        timeout=settings.ENGRAM_OUTBOUND_TIMEOUT,
        max_retries=0,
    )
    try:
        response = client.chat.completions.create(
            model=settings.ENGRAM_LLM_MODEL,
            temperature=0,
            response_format={"type": "json_object"},
            messages=[
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": f"Query: {query}\n\nMemories:\n{listing}"},
            ],
        )
        order = _parse_order(response.choices[0].message.content, len(texts))
        return RerankOutcome(order, "reranked")
    except (openai.OpenAIError, ValueError, TypeError, KeyError, IndexError) as exc:
        logger.warning("rerank failed: %s", type(exc).__name__)
        return RerankOutcome(None, "failed")


def _parse_order(content: str | None, count: int) -> list[int]:
    data = json.loads(content or "")
    numbers = data["order"] if isinstance(data, dict) else data
    order: list[int] = []
    for number in numbers:
        index = int(number) - 1
        if 0 <= index < count and index not in order:
            order.append(index)
    if not order:
        raise ValueError("empty ranking")
    # Candidates the model left out keep their fused order, after the ranked ones.
    return order + [index for index in range(count) if index not in order]
