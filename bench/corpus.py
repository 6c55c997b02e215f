"""Synthetic memory corpus for the benchmarks: varied English sentences of the kind an agent
stores about its users (preferences, plans, people, health, work, purchases), built from
templates x vocabularies, deterministic per seed, every sentence distinct.

Real text matters: HNSW recall and BM25 statistics on random vectors or random words say
nothing about search on memories. Each sentence carries a category, used by filtered search.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


def _words(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", " ").split(",") if item.strip()]


NAMES = _words(
    "Alice, Bob, Carlos, Dana, Elena, Farid, Grace, Hiro, Ines, Jonas, Kemal, Lena, Mateo,"
    "Nadia, Omar, Priya, Quentin, Rosa, Sven, Tara, Umar, Vera, Wen, Ximena, Yusuf, Zoe, Amara,"
    "Bilal, Chloe, Dmitri, Esther, Felix, Gita, Hugo, Ivy, Jamal, Kira, Luca, Maya, Nico, Olga,"
    "Pablo, Rhea, Sami, Tomas, Uma, Vikram, Wanda"
)
RELATIONS = _words(
    "sister, brother, mother, father, cousin, aunt, uncle, grandmother, grandfather, wife,"
    "husband, partner, daughter, son, niece, nephew, best friend, neighbour, colleague, manager,"
    "roommate"
)
CITIES = _words(
    "Lisbon, Berlin, Kyoto, Oaxaca, Reykjavik, Nairobi, Montreal, Hanoi, Seville, Tallinn,"
    "Cusco, Marrakesh, Edinburgh, Bergen, Porto, Tbilisi, Valparaiso, Ljubljana, Hobart, Cork,"
    "Krakow, Chiang Mai, Dubrovnik, Salzburg, Queenstown, Bologna, Busan, Cartagena, Zanzibar,"
    "Savannah"
)
FOODS = _words(
    "ramen, tacos al pastor, sourdough bread, pad thai, falafel, sushi, lasagna, dumplings, pho,"
    "paella, shakshuka, pierogi, biryani, ceviche, risotto, bibimbap, goulash, empanadas,"
    "tiramisu, churros, kimchi stew, miso soup, poke bowls, banh mi, arepas, fondue, moussaka,"
    "green curry, laksa"
)
HOBBIES = _words(
    "pottery, rock climbing, cello, watercolour painting, salsa dancing, chess, trail running,"
    "birdwatching, woodworking, knitting, photography, sailing, gardening, baking, calligraphy,"
    "archery, surfing, beekeeping, origami, juggling"
)
SKILLS = _words(
    "Spanish, Japanese, Portuguese, sign language, the piano, the guitar, Rust, Go, Kotlin,"
    "Swift, SQL, statistics, welding, sewing, sketching, improv, carpentry"
)
TOPICS = _words(
    "climate policy, medieval history, marine biology, urban planning, jazz theory,"
    "behavioural economics, the Roman empire, quantum computing, mycology, typography,"
    "stoic philosophy, space exploration"
)
ALLERGENS = _words(
    "peanuts, shellfish, gluten, lactose, penicillin, bee stings, cats, pollen, sesame, soy,"
    "kiwi, latex"
)
STORES = _words(
    "the farmers market, the hardware store, an online shop, the bookshop downtown,"
    "the outlet mall, a second-hand store, the pharmacy, the garden centre"
)
ITEMS = _words(
    "a standing desk, noise-cancelling headphones, a cast iron pan, hiking boots, a road bike,"
    "an espresso machine, a rain jacket, a mechanical keyboard, a tent, a yoga mat, an e-reader,"
    "an air purifier, a drone, a sewing machine, running shoes, a telescope"
)
WEEKDAYS = _words("Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday")
MONTHS = _words(
    "January, February, March, April, May, June, July, August, September, October, November,"
    "December"
)
PROJECTS = _words(
    "the billing migration, the mobile app redesign, the data warehouse, the Q3 audit,"
    "the onboarding flow, the search revamp, the vendor contract, the security review"
)
PETS = _words("dog, cat, parrot, rabbit, tortoise, hamster, ferret")
FEELINGS = _words("anxious, excited, nervous, thrilled, worried, relieved, proud, overwhelmed")
EVENTS = _words(
    "the job interview, the marathon, the move, the wedding, the exam, the surgery,"
    "the product launch, the recital, the court date, the home inspection"
)


def _pick(rng: random.Random, items: list[str]) -> str:
    return items[rng.randrange(len(items))]


@dataclass(frozen=True)
class Template:
    category: str
    text: str


TEMPLATES = [
    Template("food", "My {relation} {name} loves {food} but can't stand {food2}."),
    Template("food", "I want to learn to cook {food} like the place in {city} did it."),
    Template("food", "Every {weekday} I have {food} for dinner with {name}."),
    Template("travel", "I'm planning a trip to {city} in {month} to see {name}."),
    Template("travel", "Last {month} I visited {city} and tried {food} for the first time."),
    Template("travel", "I prefer an aisle seat when flying to {city}, the flight is {n} hours."),
    Template("hobbies", "I started {hobby} lessons on {weekday}s with {name}."),
    Template("hobbies", "I've been practising {hobby} for {n} months and want to get better."),
    Template("hobbies", "{name} and I are going to a {hobby} workshop in {month}."),
    Template("learning", "I'm learning {skill} and practise {n} minutes every {weekday}."),
    Template("learning", "{name} recommended a book about {topic}; I'm on chapter {n}."),
    Template("learning", "I signed up for an evening course on {topic} starting in {month}."),
    Template("health", "I'm allergic to {allergen} and carry medication just in case."),
    Template("health", "My doctor, Dr. {name}, wants a check-up every {n} months."),
    Template("health", "I run {n} kilometres on {weekday} mornings before work."),
    Template("work", "The deadline for {project} moved to {month} {day}; {name} is leading it."),
    Template("work", "I have a one-on-one with my manager {name} every {weekday}."),
    Template("work", "I'm presenting {project} to the board on {weekday} the {day}th."),
    Template("family", "My {relation} {name} has a birthday on {month} {day}."),
    Template("family", "My {relation} {name} just moved to {city} for a new job."),
    Template("family", "Our {pet} is called {name2} and is {n} years old."),
    Template("shopping", "I bought {item} at {store} for {price} dollars."),
    Template("shopping", "I'm saving up for {item}, about {price} dollars."),
    Template("shopping", "I returned {item} to {store} because it broke after {n} weeks."),
    Template("feelings", "I'm {feeling} about {event} on {weekday}."),
    Template("feelings", "{name} helped me feel less {feeling} before {event}."),
]
CATEGORIES = sorted({template.category for template in TEMPLATES})


def _fill(template: Template, rng: random.Random) -> str:
    return template.text.format(
        relation=_pick(rng, RELATIONS), name=_pick(rng, NAMES), name2=_pick(rng, NAMES),
        food=_pick(rng, FOODS), food2=_pick(rng, FOODS), city=_pick(rng, CITIES),
        weekday=_pick(rng, WEEKDAYS), month=_pick(rng, MONTHS), n=rng.randint(2, 40),
        day=rng.randint(1, 28), hobby=_pick(rng, HOBBIES), skill=_pick(rng, SKILLS),
        topic=_pick(rng, TOPICS), allergen=_pick(rng, ALLERGENS), store=_pick(rng, STORES),
        item=_pick(rng, ITEMS), price=rng.randint(15, 2400), project=_pick(rng, PROJECTS),
        pet=_pick(rng, PETS), feeling=_pick(rng, FEELINGS), event=_pick(rng, EVENTS),
    )  # fmt: skip


def memory_sentences(count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """`count` distinct (sentence, category) pairs."""
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < count:
        template = TEMPLATES[rng.randrange(len(TEMPLATES))]
        sentence = _fill(template, rng)
        if sentence not in seen:
            seen.add(sentence)
            yield sentence, template.category


QUERY_TEMPLATES = [
    "What food does my {relation} like?",
    "When is my trip to {city}?",
    "Which hobby did I start with {name}?",
    "What am I allergic to?",
    "When is {project} due?",
    "What did I buy at {store}?",
    "How often do I go running?",
    "What language am I learning?",
    "When is {name}'s birthday?",
    "What is my {pet} called?",
    "What book did {name} recommend?",
    "How am I feeling about {event}?",
    "Where did my {relation} move to?",
    "What do I eat on {weekday}s?",
    "Who is my doctor?",
]


def queries(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        template = Template("query", QUERY_TEMPLATES[rng.randrange(len(QUERY_TEMPLATES))])
        out.append(_fill(template, rng))
    return out
