"""Read a dataset in LoCoMo's published format (a JSON list of samples, each with a
"conversation" of sessions of turns and a "qa" list whose "evidence" names turns by dia_id)
into the quality suite's Conversation objects, so the suite runs on real conversations too:

    .venv/bin/python -m bench.quality.evaluate --locomo path/to/locomo10.json

The file is not part of this repository. Every turn becomes one memory (its raw text, or
"Speaker: text" with --speaker-prefix), said at its session's date plus 30 seconds per turn.
Question kinds follow LoCoMo's categories; questions without evidence are left out.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.quality.dataset import Conversation, Question, Turn

CATEGORY_KINDS = {1: "multi", 2: "temporal", 3: "open", 4: "single", 5: "adversarial"}
SESSION_KEY = re.compile(r"^session_(\d+)$")
TURN_SPACING = timedelta(seconds=30)


def session_start(text: str) -> datetime:
    """LoCoMo writes session times as '1:56 pm on 8 May, 2023'."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def _turns(sample_id: str, conversation: dict[str, Any], prefix: bool) -> list[Turn]:
    turns: list[Turn] = []
    sessions = sorted(
        (int(match.group(1)), value)
        for key, value in conversation.items()
        if (match := SESSION_KEY.match(key)) and value
    )
    for number, session in sessions:
        start = session_start(conversation[f"session_{number}_date_time"])
        for position, turn in enumerate(session):
            text = f"{turn['speaker']}: {turn['text']}" if prefix else turn["text"]
            at = start + position * TURN_SPACING
            turns.append(
                Turn(f"{sample_id}:{turn['dia_id']}", number, turn["speaker"], text, at.isoformat())
            )
    return turns


def _evidence_ids(sample_id: str, evidence: list[str]) -> list[str]:
    # A few published entries hold several ids in one string ("D8:6; D9:17").
    ids = [part for entry in evidence for part in re.split(r"[;,\s]+", entry) if part]
    return [f"{sample_id}:{dia_id}" for dia_id in ids]


def load_locomo(path: Path, *, speaker_prefix: bool = False) -> list[Conversation]:
    samples = json.loads(path.read_text())
    conversations = []
    for index, sample in enumerate(samples):
        sample_id = str(sample.get("sample_id") or f"locomo-{index}")
        conversation = sample["conversation"]
        speakers = (conversation.get("speaker_a", ""), conversation.get("speaker_b", ""))
        turns = _turns(sample_id, conversation, speaker_prefix)
        known = {turn.id for turn in turns}
        questions = []
        for number, qa in enumerate(sample["qa"]):
            evidence = [e for e in _evidence_ids(sample_id, qa.get("evidence", [])) if e in known]
            if evidence:
                kind = CATEGORY_KINDS.get(int(qa.get("category", 0)), "other")
                questions.append(Question(f"{sample_id}-q{number}", kind, qa["question"], evidence))
        conversations.append(Conversation(sample_id, speakers, turns, questions))
    return conversations
