"""Which fact extractor a process uses: the LLM one when an OpenAI-compatible endpoint is
configured (OPENAI_BASE_URL or OPENAI_API_KEY), else the deterministic local rules."""

from functools import lru_cache

import openai
from django.conf import settings

from memory.ingestion.facts import Extractor
from memory.ingestion.llm_extractor import LLMExtractor
from memory.ingestion.local_extractor import LocalRuleExtractor

# The job row drives retries with backoff; one quick SDK retry absorbs a dropped connection.
SDK_RETRIES = 1
# Some self-hosted endpoints (vLLM, Ollama) need no key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "not-needed"


def llm_configured() -> bool:
    return bool(settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY)


@lru_cache(maxsize=4)
def _llm_extractor(base_url: str, api_key: str, model: str, timeout: float) -> LLMExtractor:
    client = openai.OpenAI(
        base_url=base_url or None,
        api_key=api_key or PLACEHOLDER_API_KEY,
        timeout=timeout,
        max_retries=SDK_RETRIES,
    )
    return LLMExtractor(client, model)


def get_extractor() -> Extractor:
    """The process-wide extractor for the current settings (cached per configuration)."""
    if llm_configured():
        return _llm_extractor(
            settings.OPENAI_BASE_URL,
            settings.OPENAI_API_KEY,
            settings.ENGRAM_LLM_MODEL,
            settings.ENGRAM_OUTBOUND_TIMEOUT,
        )
    return LocalRuleExtractor()


def extractor_name() -> str:
    return f"llm:{settings.ENGRAM_LLM_MODEL}" if llm_configured() else "local-rules"
