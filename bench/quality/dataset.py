"""A retrieval-quality dataset in the shape of LoCoMo: long multi-session conversations
between two people, one memory per raw dialogue turn, and questions whose evidence turns are
known. Generated (deterministically per seed) from event scripts, so it can be rebuilt and
grown; question types:

- single: one fact, asked with different words than the evidence uses ("pet" for "puppy",
  the speaker's name where the turn says "I");
- temporal: when something happened (the evidence turn says "yesterday", "last weekend");
- multi: facts spread over several sessions ("Which cities has Nadia visited?").

Evidence is often a reply that never repeats the topic ("Her name is Luna."), and filler turns
and the other speaker's similar events act as distractors, as in real chats.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.quality.events import EVENT_TYPES, FILLER, REACTIONS, Event

PAIRS = [
    ("Nadia", "Tomas"), ("Caroline", "Melanie"), ("Jonas", "Priya"), ("Elena", "Farid"),
    ("Grace", "Hiro"), ("Rosa", "Sven"), ("Amara", "Dmitri"), ("Ivy", "Mateo"),
    ("Zoe", "Omar"), ("Lena", "Kemal"), ("Maya", "Luca"), ("Tara", "Bilal"),
]  # fmt: skip


@dataclass
class Turn:
    id: str
    session: int
    speaker: str
    text: str
    at: str  # ISO datetime


@dataclass
class Question:
    id: str
    kind: str
    text: str
    evidence: list[str]


@dataclass
class Conversation:
    id: str
    speakers: tuple[str, str]
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _session_dates(rng: random.Random, sessions: int) -> list[datetime]:
    day = datetime(2023, 1, 9, 18, 0, tzinfo=UTC) + timedelta(days=rng.randrange(300))
    dates = []
    for _ in range(sessions):
        dates.append(day + timedelta(minutes=rng.randrange(0, 180)))
        day += timedelta(days=rng.randint(4, 16))
    return dates


def _plan_events(rng: random.Random, speakers: tuple[str, str], sessions: int) -> list[Event]:
    events = []
    for speaker in speakers:
        kinds = rng.sample(list(EVENT_TYPES), k=min(len(EVENT_TYPES), 9))
        for kind in kinds:
            for _ in range(EVENT_TYPES[kind].repeats(rng)):
                events.append(EVENT_TYPES[kind].make(rng, speaker, rng.randrange(sessions)))
    return events


def build_conversation(index: int, seed: int, sessions: int = 18) -> Conversation:
    rng = random.Random(seed * 1000 + index)
    speakers = PAIRS[index % len(PAIRS)]
    conversation = Conversation(id=f"conv-{index}", speakers=speakers)
    dates = _session_dates(rng, sessions)
    events = _plan_events(rng, speakers, sessions)
    for session, start in enumerate(dates):
        script = _session_script(rng, speakers, [e for e in events if e.session == session])
        for position, (speaker, text, event, role) in enumerate(script):
            turn_id = f"{conversation.id}-s{session}-t{position}"
            moment = start + timedelta(seconds=40 * position)
            conversation.turns.append(Turn(turn_id, session, speaker, text, moment.isoformat()))
            if event is not None:
                event.turn_ids.setdefault(role, []).append(turn_id)
                event.when = start
    conversation.questions = _questions(rng, conversation, events)
    return conversation


def _session_script(
    rng: random.Random, speakers: tuple[str, str], events: list[Event]
) -> list[tuple[str, str, Event | None, str]]:
    a, b = speakers
    lines: list[tuple[str, str, Event | None, str]] = []
    lines.append((a, rng.choice(FILLER["greeting"]).format(other=b), None, ""))
    lines.append((b, rng.choice(FILLER["greeting_reply"]).format(other=a), None, ""))
    lines += _small_talk(rng, speakers, rng.randint(4, 10))
    rng.shuffle(events)
    for event in events:
        other = b if event.speaker == a else a
        for role, speaker_is_owner, text in event.script(rng):
            who = event.speaker if speaker_is_owner else other
            lines.append((who, text, event, role))
        lines.append((other, rng.choice(REACTIONS), None, ""))
        lines += _small_talk(rng, speakers, rng.randint(2, 8))
    lines.append((b, rng.choice(FILLER["bye"]).format(other=a), None, ""))
    return lines


def _small_talk(
    rng: random.Random, speakers: tuple[str, str], count: int
) -> list[tuple[str, str, Event | None, str]]:
    return [(speakers[i % 2], rng.choice(FILLER["chat"]), None, "") for i in range(count)]


def _questions(rng: random.Random, conversation: Conversation, events: list[Event]) -> list:
    questions: list[Question] = []
    mentioned = [event for event in events if event.turn_ids]
    for event in mentioned:
        for kind, text, roles in event.questions(rng):
            evidence = [turn for role in roles for turn in event.turn_ids.get(role, [])]
            if evidence:
                questions.append(
                    Question(f"{conversation.id}-q{len(questions)}", kind, text, evidence)
                )
    by_type: dict[tuple[str, str], list[Event]] = {}
    for event in mentioned:
        by_type.setdefault((event.speaker, event.kind), []).append(event)
    for (speaker, kind), group in by_type.items():
        if len(group) >= 2 and EVENT_TYPES[kind].multi_question:
            text = EVENT_TYPES[kind].multi_question.format(name=speaker)
            evidence = [t for event in group for t in event.turn_ids.get("announce", [])]
            questions.append(
                Question(f"{conversation.id}-q{len(questions)}", "multi", text, evidence)
            )
    return questions


def build_dataset(conversations: int = 12, seed: int = 0) -> list[Conversation]:
    return [build_conversation(index, seed) for index in range(conversations)]


def save(dataset: list[Conversation], path: Path) -> None:
    path.write_text(json.dumps([asdict(c) for c in dataset], indent=1))


if __name__ == "__main__":
    data = build_dataset()
    turns = sum(len(c.turns) for c in data)
    kinds: dict[str, int] = {}
    for conv in data:
        for question in conv.questions:
            kinds[question.kind] = kinds.get(question.kind, 0) + 1
    print(f"{len(data)} conversations, {turns} turns, questions {kinds}")
    for turn in data[0].turns[:40]:
        print(f"{turn.speaker}: {turn.text}")
    for question in data[0].questions[:12]:
        print(question.kind, question.text, question.evidence)
