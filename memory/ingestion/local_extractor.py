"""The deterministic extractor used when no LLM is configured.

It turns first-person statements into third-person facts with hand-written rules
("I'm vegetarian and allergic to nuts" -> "User is vegetarian", "User is allergic to
nuts"), skips greetings, questions, requests and passing states, and never echoes a
sentence it does not understand: an unknown statement yields nothing.

From the context it uses the category catalog, the observation date (to ground "last year")
and, deterministically, two kinds of custom instruction:
- exclusions: "Do not store / don't remember / never save / ignore / exclude / skip <topic>"
  drops every fact whose words or categories mention the topic;
- inclusions: "Only store / only remember / focus only on <topic>" keeps only facts that do.
Everything else in the instructions (tone, style, nuance) needs an LLM and is ignored here.
Recent messages and existing memories are not used: deduplication and conflict resolution
happen in the later pipeline stages.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from memory.ingestion.categories import categories_matching_topic, categorize, keyword_tokens
from memory.ingestion.facts import (
    Attribution,
    CandidateFact,
    ConversationMessage,
    ExtractionContext,
)
from memory.ingestion.local_rules import Clause, RuleBook, apply_rules
from memory.ingestion.local_rules_about import ABOUT_RULES
from memory.ingestion.local_rules_doing import DOING_RULES
from memory.ingestion.local_rules_fallback import ASSISTANT_RULES, FALLBACK_RULES
from memory.ingestion.local_rules_traits import TRAIT_RULES
from memory.ingestion.local_text import (
    expand_contractions,
    prepare_clause,
    split_clauses,
    split_sentences,
)

# Specific rules first, catch-alls ("I am ...", "I have ...") after, guesses last.
USER_RULE_ORDER: tuple[RuleBook, ...] = (ABOUT_RULES, DOING_RULES, TRAIT_RULES, FALLBACK_RULES)
MAX_FACTS_PER_CALL = 50

# Rewrites that let one rule cover several phrasings.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^as (an?) ([\w -]+)$", re.I), r"I am \1 \2"),  # "As a nurse, I ..."
    (re.compile(r"^I (?:might|may|could) be ", re.I), "I am "),  # confidence already lowered
    (re.compile(r"^we have (a|an|two|three|\d+) ", re.I), r"I have \1 "),
    (re.compile(r"^I have been (\w+ing)\b", re.I), r"I am \1"),
    (re.compile(r"^I (?:have got|got) (a|an|two|three) ", re.I), r"I have \1 "),
)


@dataclass(frozen=True)
class InstructionFilter:
    """The deterministic part of a project's custom instructions (see module docstring)."""

    excluded_topics: tuple[frozenset[str], ...] = ()
    included_topics: tuple[frozenset[str], ...] = ()

    @classmethod
    def parse(cls, instructions: str | None) -> InstructionFilter:
        if not instructions:
            return cls()
        return cls(_topics(instructions, _EXCLUDE), _topics(instructions, _INCLUDE))

    def allows(self, fact: CandidateFact, catalog: Mapping[str, str]) -> bool:
        if any(_mentions(fact, topic, catalog) for topic in self.excluded_topics):
            return False
        if self.included_topics:
            return any(_mentions(fact, topic, catalog) for topic in self.included_topics)
        return True


_STORE = r"(?:store|save|remember|record|track|extract|keep|capture|log|memori[sz]e|retain)"
_EXCLUDE = re.compile(
    rf"\b(?:(?:do not|don't|never|avoid|stop)\s+{_STORE}(?:ing)?|ignore|exclude|skip)\s+"
    r"(?P<topic>[^.;!\n]+)",
    re.IGNORECASE,
)
_INCLUDE = re.compile(
    rf"\b(?:only\s+{_STORE}|{_STORE}\s+only|focus\s+(?:only\s+)?on)\s+(?P<topic>[^.;!\n]+)",
    re.IGNORECASE,
)
_TOPIC_NOISE = frozenset(
    {"anything", "about", "my", "any", "mention", "fact", "memory", "memories"}
)


def _topics(instructions: str, pattern: re.Pattern[str]) -> tuple[frozenset[str], ...]:
    topics = []
    for match in pattern.finditer(instructions):
        words = keyword_tokens(match["topic"]) - _TOPIC_NOISE
        if words:
            topics.append(frozenset(words))
    return tuple(topics)


def _mentions(fact: CandidateFact, topic: frozenset[str], catalog: Mapping[str, str]) -> bool:
    if topic & keyword_tokens(fact.text):
        return True
    return bool(set(fact.categories) & categories_matching_topic(topic, catalog))


class LocalRuleExtractor:
    """Rule-based `Extractor`: deterministic, offline, no model needed."""

    def extract(
        self, messages: Sequence[ConversationMessage], context: ExtractionContext
    ) -> list[CandidateFact]:
        rules_filter = InstructionFilter.parse(context.custom_instructions)
        facts: list[CandidateFact] = []
        seen: set[str] = set()
        for message in messages:
            for fact in self._message_facts(message, context):
                fact = dataclasses.replace(
                    fact, categories=categorize(fact.text, fact.kind, context.categories)
                )
                key = fact.text.casefold()
                if key not in seen and rules_filter.allows(fact, context.categories):
                    seen.add(key)
                    facts.append(fact)
        return facts[:MAX_FACTS_PER_CALL]

    def _message_facts(
        self, message: ConversationMessage, context: ExtractionContext
    ) -> list[CandidateFact]:
        role = message.role.lower()
        books: tuple[RuleBook, ...]
        speaker: Attribution
        if role == "user":
            books, speaker = USER_RULE_ORDER, "user"
        elif role == "assistant" and context.agent_id:
            # Only what an agent says about itself; what it says about the user is echo.
            books, speaker = (ASSISTANT_RULES,), "assistant"
        else:
            return []
        facts: list[CandidateFact] = []
        for clause in _clauses(message.content, context, speaker):
            facts.extend(apply_rules(books, clause))
        return facts


def _clauses(content: str, context: ExtractionContext, speaker: Attribution) -> list[Clause]:
    clauses: list[Clause] = []
    for sentence, is_question in split_sentences(expand_contractions(content)):
        after_marker = False
        for raw in split_clauses(sentence, is_question):
            prepared = prepare_clause(raw, after_correction=after_marker)
            # "Update: I now work at Globex": a bare marker flags the clauses after it.
            after_marker = prepared.correction and not prepared.text
            text = _rewrite(prepared.text)
            if text:
                clauses.append(
                    Clause(
                        text=text,
                        raw=raw,
                        confidence=prepared.confidence,
                        correction=prepared.correction,
                        observed=context.observation_date,
                        speaker=speaker,
                    )
                )
    return clauses


def _rewrite(text: str) -> str:
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text
