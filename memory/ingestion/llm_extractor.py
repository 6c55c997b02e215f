"""Fact extraction with an OpenAI-compatible chat model, validated before use."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import openai
from openai.types.chat import ChatCompletionMessageParam

from memory.ingestion.facts import (
    CandidateFact,
    ConversationMessage,
    ExtractionContext,
    ExtractionError,
)
from memory.ingestion.llm_prompt import retry_prompt, system_prompt, user_prompt
from memory.ingestion.llm_schema import ReplyInvalid, parse_reply

logger = logging.getLogger(__name__)

# Sent back to the model on retry; more would only cost tokens.
BAD_REPLY_ECHO_CHARS = 4000
# HTTP statuses worth trying again later; any other 4xx is a configuration problem.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class LLMExtractor:
    """`Extractor` backed by one JSON-mode chat completion per batch of messages.

    An unusable reply (not JSON, wrong shape or types) is retried up to `max_attempts`
    times, each retry telling the model what was wrong; then ExtractionError (not
    retryable: the job should fail with the reason). Transport errors, timeouts and 5xx
    raise ExtractionError(retryable=True) at once, so the job runner can back off.
    """

    def __init__(self, client: openai.OpenAI, model: str, max_attempts: int = 3) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.model = model
        self.max_attempts = max_attempts

    def extract(
        self, messages: Sequence[ConversationMessage], context: ExtractionContext
    ) -> list[CandidateFact]:
        if not any(message.content.strip() for message in messages):
            return []
        prompt: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system_prompt(context)},
            {"role": "user", "content": user_prompt(messages, context)},
        ]
        conversation = prompt
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            content = self._complete(conversation)
            try:
                return parse_reply(content, context.categories)
            except ReplyInvalid as exc:
                problem = exc.problem
                logger.warning(
                    "extraction reply unusable",
                    extra={"attempt": attempt, "problem": problem, "model": self.model},
                )
                conversation = [
                    *prompt,
                    {"role": "assistant", "content": (content or "")[:BAD_REPLY_ECHO_CHARS]},
                    {"role": "user", "content": retry_prompt(problem)},
                ]
        raise ExtractionError(
            f"LLM returned an unusable reply {self.max_attempts} times: {problem}",
            retryable=False,
        )

    def _complete(self, conversation: list[ChatCompletionMessageParam]) -> str | None:
        try:
            completion = self.client.chat.completions.create(
                model=self.model,
                messages=conversation,
                temperature=0,
                response_format={"type": "json_object"},
            )
        except openai.APITimeoutError as exc:
            raise ExtractionError("LLM request timed out", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise ExtractionError("could not reach the LLM endpoint", retryable=True) from exc
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except (openai.OpenAIError, ValueError) as exc:  # e.g. a 200 whose body is not JSON
            raise ExtractionError(
                f"LLM endpoint sent an unreadable response ({type(exc).__name__})",
                retryable=True,
            ) from exc
        if not completion.choices:
            return None
        return completion.choices[0].message.content


def _status_error(exc: openai.APIStatusError) -> ExtractionError:
    status = exc.status_code
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    hint = "" if retryable else " (check the model name, API key and endpoint)"
    return ExtractionError(f"LLM endpoint answered HTTP {status}{hint}", retryable=retryable)
