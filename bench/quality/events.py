"""Event scripts for the quality dataset: what a speaker says happened, how the other one
asks about it, the reply carrying the detail, and the questions (worded differently) whose
evidence these turns are."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

WHEN = ["yesterday", "last weekend", "this morning", "a few days ago", "on Saturday",
        "last Tuesday", "the other day", "earlier this week"]  # fmt: skip


@dataclass
class Event:
    kind: str
    speaker: str
    session: int
    slots: dict[str, str]
    spec: EventType
    turn_ids: dict[str, list[str]] = field(default_factory=dict)
    when: datetime | None = None

    def fill(self, template: str) -> str:
        return template.format(name=self.speaker, **self.slots)

    def script(self, rng: random.Random) -> list[tuple[str, bool, str]]:
        spec = self.spec
        lines = [("announce", True, self.fill(rng.choice(spec.announce)))]
        lines.append(("ask", False, self.fill(rng.choice(spec.ask))))
        lines.append(("detail", True, self.fill(rng.choice(spec.detail))))
        if spec.feeling and rng.random() < 0.6:
            lines.append(("feeling", True, self.fill(rng.choice(spec.feeling))))
        return lines

    def questions(self, rng: random.Random) -> list[tuple[str, str, list[str]]]:
        out = [("single", self.fill(rng.choice(self.spec.detail_questions)), ["detail"])]
        if self.spec.temporal_questions and rng.random() < 0.7:
            out.append(
                ("temporal", self.fill(rng.choice(self.spec.temporal_questions)), ["announce"])
            )
        if self.spec.feeling and "feeling" in self.turn_ids and rng.random() < 0.5:
            out.append(("single", self.fill(rng.choice(self.spec.feeling_questions)), ["feeling"]))
        return out


@dataclass
class EventType:
    kind: str
    slots: dict[str, list[str]]
    announce: list[str]
    ask: list[str]
    detail: list[str]
    detail_questions: list[str]
    temporal_questions: list[str] = field(default_factory=list)
    feeling: list[str] = field(default_factory=list)
    feeling_questions: list[str] = field(default_factory=list)
    multi_question: str = ""
    max_repeats: int = 1

    def repeats(self, rng: random.Random) -> int:
        return rng.randint(1, self.max_repeats)

    def make(self, rng: random.Random, speaker: str, session: int) -> Event:
        slots = {key: rng.choice(values) for key, values in self.slots.items()}
        slots["when"] = rng.choice(WHEN)
        return Event(self.kind, speaker, session, slots, self)


PET = EventType(
    kind="pet",
    slots={
        "animal": ["puppy", "kitten", "rescue dog", "bunny"],
        "pet_name": ["Luna", "Biscuit", "Pepper", "Mochi", "Ziggy", "Olive", "Rocket"],
        "place": ["the shelter on Elm Street", "a rescue centre upstate", "a neighbour"],
    },
    announce=[
        "Guess what, I adopted a {animal} {when}!",
        "We brought home a little {animal} {when}.",
        "{when}, I finally got a {animal} from {place}.",
    ],
    ask=["No way! What did you name it?", "So cute! What's its name?", "Aww, name?"],
    detail=[
        "We called the {animal} {pet_name}.",
        "{pet_name}! She already owns the sofa.",
        "Her name is {pet_name}, the tiniest {animal} you have ever seen.",
    ],
    detail_questions=[
        "What is the name of {name}'s new pet?",
        "What did {name} call the animal she adopted?",
        "What's {name}'s pet called?",
    ],
    temporal_questions=["When did {name} adopt a pet?", "When did {name} get the {animal}?"],
    feeling=[
        "Honestly it has been chaotic but I love it.",
        "I haven't slept properly since, worth it though.",
    ],
    feeling_questions=["How has {name} found life with the new pet?"],
)
TRIP = EventType(
    kind="trip",
    slots={
        "city": [
            "Lisbon",
            "Kyoto",
            "Reykjavik",
            "Oaxaca",
            "Edinburgh",
            "Hanoi",
            "Marrakesh",
            "Vancouver",
            "Tallinn",
            "Cusco",
        ],
        "sight": [
            "the old castle",
            "a night market",
            "a volcano hike",
            "a cooking class",
            "the botanical garden",
            "a boat tour",
        ],
    },
    announce=[
        "I just got back from {city}, flew home {when}.",
        "{when} I returned from a trip to {city}!",
        "Back from {city} - what a week.",
    ],
    ask=["Jealous! What was the highlight?", "What did you end up doing there?", "Best part?"],
    detail=[
        "Probably {sight}, I could have stayed in {city} all day.",
        "We did {sight} and it blew my mind.",
        "Definitely {sight}, best part of the trip.",
    ],
    detail_questions=[
        "What was the highlight of {name}'s vacation in {city}?",
        "What did {name} enjoy most while travelling to {city}?",
    ],
    temporal_questions=[
        "When did {name} come back from {city}?",
        "When was {name}'s trip to {city}?",
    ],
    multi_question="Which cities has {name} travelled to?",
    max_repeats=3,
)
HOBBY = EventType(
    kind="hobby",
    slots={
        "hobby": [
            "pottery",
            "bouldering",
            "the cello",
            "watercolours",
            "salsa",
            "archery",
            "woodworking",
            "sourdough baking",
            "birdwatching",
        ],
        "teacher": [
            "Ms. Alvarez",
            "a retired sailor named Pete",
            "my cousin Dana",
            "an online course",
        ],
        "thing": [
            "a lopsided bowl",
            "my first tricky route",
            "a short minuet",
            "a foggy harbour scene",
            "a basic turn pattern",
            "a birdhouse",
        ],
    },
    announce=[
        "I started taking {hobby} lessons {when}.",
        "So I signed up for {hobby}, first class was {when}.",
        "New thing: {hobby}. Went to my first session {when}.",
    ],
    ask=["Fun! Who's teaching you?", "How did you get into that?", "Who runs the class?"],
    detail=[
        "It's {teacher}, very patient with {hobby} beginners.",
        "{teacher} got me hooked, so far I managed {thing}.",
        "I'm learning {hobby} from {teacher}. Made {thing} already!",
    ],
    detail_questions=[
        "Who teaches {name} {hobby}?",
        "Who is {name}'s instructor for the new pastime?",
    ],
    temporal_questions=["When did {name} start {hobby}?"],
    feeling=[
        "It's the only hour of the week I'm not thinking about work.",
        "I'm terrible at it but happy.",
    ],
    feeling_questions=["How does {name} feel about the {hobby} classes?"],
    multi_question="What new hobbies has {name} picked up?",
    max_repeats=2,
)
BOOK = EventType(
    kind="book",
    slots={
        "title": [
            "The Overstory",
            "Piranesi",
            "Educated",
            "Project Hail Mary",
            "Circe",
            "The Remains of the Day",
            "Sapiens",
            "Tomorrow, and Tomorrow, and Tomorrow",
        ],
        "gist": [
            "trees and the people who fight for them",
            "a man living in an endless house",
            "a girl who never went to school",
            "a teacher stuck in space",
            "a witch exiled on an island",
            "an old butler looking back",
            "how humans took over",
        ],
    },
    announce=[
        "I finished reading {title} {when}.",
        "Stayed up way too late {when} finishing {title}.",
    ],
    ask=["Is that the one about space?", "What's it about?", "Worth reading?"],
    detail=["The book is about {gist}. Loved it.", "No, it's about {gist}, beautifully written."],
    detail_questions=[
        "What is the novel {name} finished about?",
        "What's the story of the book {name} read?",
    ],
    temporal_questions=["When did {name} finish {title}?"],
    multi_question="Which books has {name} read?",
    max_repeats=2,
)
JOB = EventType(
    kind="job",
    slots={
        "company": [
            "a solar startup",
            "the city library",
            "a children's hospital",
            "a bike shop",
            "a design agency",
            "a seed bank",
        ],
        "role": [
            "project coordinator",
            "data analyst",
            "head baker",
            "volunteer manager",
            "UX researcher",
        ],
        "commute": ["twenty minutes by bike", "an hour on two trains", "a walk across the park"],
    },
    announce=[
        "Big news: I accepted an offer at {company} {when}!",
        "I start at {company} next month, signed {when}.",
    ],
    ask=["Congrats!! What will you be doing?", "Amazing, what's the role?"],
    detail=[
        "I'll be their {role}. The commute is {commute}.",
        "{role}! And the new job is only {commute} away.",
    ],
    detail_questions=[
        "What position did {name} accept?",
        "What is {name}'s job title going to be?",
    ],
    temporal_questions=["When did {name} accept the new job?"],
    feeling=["I'm nervous about leaving my team though.", "Terrified and excited in equal parts."],
    feeling_questions=["How does {name} feel about changing jobs?"],
)
RACE = EventType(
    kind="race",
    slots={
        "race": ["a 10k charity run", "a half marathon", "a sprint triathlon", "a trail race"],
        "cause": [
            "the children's cancer ward",
            "a local food bank",
            "an animal shelter",
            "mental health awareness",
        ],
        "time": ["58 minutes", "just under two hours", "1:47", "an embarrassing 2:30"],
    },
    announce=["I ran {race} {when}!", "{when} I did {race}, my legs are destroyed."],
    ask=["Whoa! Was it for a cause?", "How did it go? Was it for charity?"],
    detail=[
        "Yes, we raised money for {cause}. I finished in {time}.",
        "The race was for {cause}. Time was {time}.",
    ],
    detail_questions=[
        "What cause did {name}'s run support?",
        "Which charity was {name} raising money for?",
    ],
    temporal_questions=["When did {name} run {race}?"],
)
FAMILY = EventType(
    kind="family",
    slots={
        "relative": ["sister", "brother", "cousin", "best friend"],
        "occasion": [
            "got engaged",
            "had a baby girl",
            "graduated from nursing school",
            "bought a house",
        ],
        "detail": [
            "the ceremony is in June in a barn",
            "she's called Ada and weighs almost nothing",
            "she wants to work in the ER",
            "it needs a new roof but has a huge garden",
        ],
    },
    announce=[
        "Family news: my {relative} {occasion} {when}!",
        "My {relative} {occasion}, found out {when}.",
    ],
    ask=["That's wonderful! Tell me more.", "Oh my gosh, details please!"],
    detail=["Well, {detail}.", "So {detail}, we're all thrilled."],
    detail_questions=[
        "What do we know about the news in {name}'s family?",
        "What details did {name} share about the {relative}'s big news?",
    ],
    temporal_questions=["When did {name} hear that the {relative} {occasion}?"],
)
COOKING = EventType(
    kind="cooking",
    slots={
        "dish": [
            "a Thai green curry",
            "homemade ramen",
            "a lemon tart",
            "pierogi",
            "paella",
            "a three-layer carrot cake",
        ],
        "guest": ["my in-laws", "the neighbours", "my book club", "my old roommates"],
        "mishap": [
            "the smoke alarm went off twice",
            "I forgot the salt entirely",
            "the dog stole a piece",
            "it took four hours",
        ],
    },
    announce=["I cooked {dish} for {guest} {when}.", "{when} I attempted {dish} for {guest}."],
    ask=["Ooh, how did it turn out?", "Did it work?"],
    detail=["The {dish} was good in the end, but {mishap}.", "Everyone ate it! Though {mishap}."],
    detail_questions=[
        "What went wrong when {name} made dinner for guests?",
        "What mishap happened during {name}'s dinner?",
    ],
    temporal_questions=["When did {name} cook {dish}?"],
)
HEALTH = EventType(
    kind="health",
    slots={
        "issue": ["sprained my ankle", "had my wisdom teeth out", "got the flu", "hurt my back"],
        "cause": [
            "tripping over the dog's leash",
            "lifting a sofa",
            "a soccer game",
            "nothing at all",
        ],
        "advice": [
            "rest and ice for two weeks",
            "soup and sleep",
            "physio twice a week",
            "no running for a month",
        ],
    },
    announce=["Ugh, I {issue} {when}.", "Not great news: I {issue} {when}."],
    ask=["Oh no! How did that happen?", "What happened?"],
    detail=["It was {cause}. The doctor says {advice}.", "Blame {cause}. Now it's {advice}."],
    detail_questions=["What did the doctor tell {name} to do?", "How did {name} get hurt?"],
    temporal_questions=["When did {name} get injured or sick?"],
)
CONCERT = EventType(
    kind="concert",
    slots={
        "artist": [
            "Phoebe Bridgers",
            "a jazz trio",
            "the city orchestra",
            "Arctic Monkeys",
            "a Fado singer",
            "a tiny punk band",
        ],
        "venue": ["the old theatre", "a rooftop bar", "the arena", "a church downtown"],
        "moment": [
            "they played my favourite song as an encore",
            "it rained and nobody cared",
            "I cried during the slow part",
            "we met the drummer afterwards",
        ],
    },
    announce=["I saw {artist} live {when}!", "{when} we went to see {artist} at {venue}."],
    ask=["How was the show?", "Was it good??"],
    detail=["Unreal concert. {moment}.", "So good, {moment}."],
    detail_questions=[
        "What was memorable about the gig {name} went to?",
        "What happened at the show {name} attended?",
    ],
    temporal_questions=["When did {name} see {artist}?"],
    multi_question="Which artists or bands has {name} seen perform?",
    max_repeats=2,
)
EVENT_TYPES = {spec.kind: spec for spec in (PET, TRIP, HOBBY, BOOK, JOB, RACE, FAMILY, COOKING,
                                            HEALTH, CONCERT)}  # fmt: skip

REACTIONS = [
    "That's so great, I'm happy for you!",
    "Wow, good for you.",
    "Haha I love that.",
    "You always have the best stories.",
    "That sounds amazing honestly.",
    "Oh wow.",
    "I'm so proud of you!",
    "That's wild.",
    "Nice, you deserve it.",
    "Amazing!",
]
FILLER = {
    "greeting": [
        "Hey {other}! How have you been?",
        "Hi {other}, long time no talk!",
        "{other}! Got a minute to catch up?",
        "Morning {other}, how's your week?",
    ],
    "greeting_reply": [
        "Hey! Pretty good, busy as always. You?",
        "Hi! Tired but okay. What's new?",
        "Good to hear from you! Things are hectic.",
        "All good here, what's up?",
    ],
    "chat": [
        "Work has been a lot lately.",
        "The weather has been so weird this month.",
        "I keep meaning to call you more often.",
        "Did you watch anything good recently?",
        "I need a holiday, seriously.",
        "My plants are all dying again.",
        "Coffee is the only thing keeping me going.",
        "We should meet up soon.",
        "I've been trying to go to bed earlier.",
        "Traffic this week was awful.",
        "I finally cleaned my apartment.",
        "My phone screen cracked again.",
        "Mom says hi by the way.",
        "I keep forgetting to drink water.",
        "Totally agree.",
        "Ha, same here.",
        "Yeah, that makes sense.",
        "Right?",
        "I've been listening to a lot of podcasts.",
        "The neighbours are renovating, so noisy.",
    ],
    "bye": [
        "Okay I have to run, talk soon {other}!",
        "Gotta go, bye {other}!",
        "Let's catch up again next week, {other}.",
        "Take care {other}!",
    ],
}
