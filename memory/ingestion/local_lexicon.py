"""Word lists the local rule extractor uses to classify what a sentence is about."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PROFESSIONS = _words(
    "engineer developer programmer designer manager teacher professor lecturer nurse doctor "
    "physician surgeon dentist pharmacist lawyer attorney accountant analyst scientist "
    "researcher consultant architect chef cook baker writer author journalist editor artist "
    "photographer musician student intern ceo cto cfo founder entrepreneur director "
    "administrator officer clerk cashier mechanic electrician plumber carpenter pilot driver "
    "farmer firefighter paramedic therapist psychologist veterinarian vet economist banker "
    "trader recruiter marketer salesperson secretary assistant librarian translator "
    "interpreter freelancer contractor technician specialist coordinator producer actor "
    "actress dancer singer coach trainer instructor tutor waiter waitress bartender barista "
    "scientist statistician mathematician physicist chemist biologist lead"
)

# Nouns after "I am a ..." that describe a pastime rather than a job.
HOBBY_ROLES = _words(
    "runner gamer cyclist climber reader hiker swimmer surfer skier gardener knitter "
    "collector foodie traveler traveller bookworm golfer guitarist pianist drummer fan nerd geek"
)

DEMONYMS = _words(
    "american british english scottish welsh irish canadian mexican brazilian argentinian "
    "chilean colombian peruvian spanish portuguese french german dutch belgian swiss austrian "
    "italian greek polish czech slovak hungarian romanian bulgarian ukrainian russian "
    "swedish norwegian danish finnish icelandic turkish israeli egyptian moroccan nigerian "
    "kenyan ethiopian south-african indian pakistani bangladeshi chinese japanese korean "
    "vietnamese thai filipino indonesian malaysian singaporean australian kiwi lebanese "
    "iranian iraqi saudi emirati"
)

PETS = _words(
    "dog dogs cat cats puppy puppies kitten kittens rabbit rabbits bunny hamster hamsters "
    "parrot parrots bird birds fish goldfish turtle turtles horse horses guinea-pig lizard "
    "snake ferret retriever labrador terrier poodle beagle bulldog spaniel shepherd husky "
    "dachshund chihuahua pug corgi collie tabby siamese"
)

# Relationship word -> canonical form used in fact text and relation labels.
RELATIVES: dict[str, str] = {
    "sister": "sister",
    "brother": "brother",
    "mother": "mother",
    "mom": "mother",
    "mum": "mother",
    "mommy": "mother",
    "father": "father",
    "dad": "father",
    "daddy": "father",
    "son": "son",
    "daughter": "daughter",
    "wife": "wife",
    "husband": "husband",
    "hubby": "husband",
    "partner": "partner",
    "boyfriend": "boyfriend",
    "bf": "boyfriend",
    "girlfriend": "girlfriend",
    "gf": "girlfriend",
    "fiance": "fiance",
    "fiancee": "fiancee",
    "grandmother": "grandmother",
    "grandma": "grandmother",
    "grandfather": "grandfather",
    "grandpa": "grandfather",
    "aunt": "aunt",
    "uncle": "uncle",
    "cousin": "cousin",
    "niece": "niece",
    "nephew": "nephew",
    "friend": "friend",
    "best friend": "best friend",
    "roommate": "roommate",
    "boss": "boss",
    "manager": "manager",
    "colleague": "colleague",
    "coworker": "coworker",
    "kid": "child",
    "child": "child",
    "baby": "baby",
    "stepmother": "stepmother",
    "stepfather": "stepfather",
    "sisters": "sisters",
    "brothers": "brothers",
    "kids": "children",
    "children": "children",
    "sons": "sons",
    "daughters": "daughters",
    "parents": "parents",
    "siblings": "siblings",
    "twin": "twin",
}
# One of each at a time: a later name for these supersedes the earlier one.
SINGLE_VALUED_RELATIVES = _words(
    "mother father wife husband partner boyfriend girlfriend fiance fiancee boss"
)
RELATIVE_PATTERN = "|".join(sorted(RELATIVES, key=len, reverse=True))
PET_PATTERN = "|".join(sorted(PETS, key=len, reverse=True))

# Words after "I am" that describe a lasting trait, mapped to (kind, subject key).
DIETS = _words(
    "vegetarian vegan pescatarian pescetarian keto paleo gluten-free dairy-free halal kosher "
    "flexitarian"
)
HEALTH_TRAITS = _words(
    "diabetic asthmatic pregnant colorblind colourblind deaf blind epileptic celiac coeliac "
    "anemic lactose-intolerant gluten-intolerant autistic dyslexic hard-of-hearing"
)
RELATIONSHIP_STATUS = _words("married single divorced engaged widowed separated")
EMPLOYMENT_STATUS = _words("retired unemployed self-employed freelancing")
PERSONALITY_TRAITS = _words(
    "left-handed right-handed introverted extroverted introvert extrovert shy ambidextrous"
)

HEALTH_CONDITIONS = _words(
    "diabetes asthma adhd add autism epilepsy celiac migraines migraine anxiety depression "
    "arthritis insomnia eczema psoriasis hypertension allergies allergy cancer dyslexia "
    "tinnitus scoliosis ibs crohn's lupus"
)

SPOKEN_LANGUAGES = _words(
    "english spanish french german italian portuguese dutch russian chinese mandarin "
    "cantonese japanese korean arabic hindi urdu bengali turkish polish swedish norwegian "
    "danish finnish greek hebrew thai vietnamese indonesian swahili ukrainian czech "
    "hungarian romanian catalan"
)

# Preference domains: comparing two members of one domain fills a single-valued slot.
PREFERENCE_DOMAINS: dict[str, frozenset[str]] = {
    "preferred_language:programming": _words(
        "python javascript typescript java go golang rust c c++ c# ruby php kotlin swift "
        "scala haskell elixir clojure perl r julia dart lua"
    ),
    "preferred_language:spoken": SPOKEN_LANGUAGES,
    "preferred_editor": _words("vim neovim emacs vscode vs-code pycharm intellij sublime"),
    "preferred_os": _words("linux windows macos mac ubuntu"),
    "preferred_hot_drink": _words("coffee tea"),
    "preferred_pet": _words("cats dogs cat dog"),
}

# Objects of "I have ..." that are momentary, not possessions worth remembering.
TRANSIENT_HAVE = _words(
    "question questions problem problems idea issue issues doubt meeting call minute moment "
    "second headache cold time fun day feeling suggestion request favor favour look"
)

# Predicates after "I am" that describe a passing state.
TRANSIENT_STATES = _words(
    "tired hungry thirsty sleepy good fine ok okay great well sorry sure unsure happy sad glad "
    "bored back here ready done busy confused excited curious lost stuck late early home "
    "free available away afraid worried stressed annoyed upset angry nervous grateful "
    "thankful interested wondering trying looking asking thinking going coming leaving "
    "joking kidding serious alright just still also"
)

# Verbs after "I want to / I need to / I'd like to" that only frame a request.
REQUEST_VERBS = _words(
    "know ask see check find hear get understand talk chat say tell try go leave sleep "
    "think discuss confirm clarify"
)

# Verbs after "I do not / I never" that are conversation, not lasting behaviour.
CONVERSATIONAL_VERBS = _words(
    "know think care mind understand remember see get agree mean recall believe "
    "want need feel guess suppose have"
)

# Common "and" phrases that are one thing, not a list.
COMPOUND_PHRASES = (
    "rock and roll",
    "rhythm and blues",
    "r and b",
    "drum and bass",
    "fish and chips",
    "mac and cheese",
    "salt and pepper",
    "dungeons and dragons",
    "pride and prejudice",
    "black and white",
    "law and order",
    "peanut butter and jelly",
    "tom and jerry",
    "bread and butter",
    "arts and crafts",
    "trial and error",
)

# Gerunds whose base form needs the final "e" restored.
E_DROPPING_GERUNDS: dict[str, str] = {
    "dancing": "dance",
    "using": "use",
    "having": "have",
    "making": "make",
    "taking": "take",
    "coming": "come",
    "writing": "write",
    "riding": "ride",
    "living": "live",
    "moving": "move",
    "hiking": "hike",
    "baking": "bake",
    "sharing": "share",
    "caring": "care",
    "saving": "save",
    "serving": "serve",
    "voting": "vote",
    "driving": "drive",
    "smoking": "smoke",
    "giving": "give",
    "loving": "love",
    "skating": "skate",
    "biking": "bike",
    "racing": "race",
    "vaping": "vape",
}

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
