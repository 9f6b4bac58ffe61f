"""Word banks for the synthetic tasks, plus invented proper names built from syllables.

Every bank is a tuple so that it cannot be changed by accident; generators draw from them with a
seeded ``random.Random`` only, which keeps the output identical for a given seed.
"""
from __future__ import annotations

import random

FIRST_NAMES = (
    "Marta", "Jonas", "Priya", "Tomasz", "Aiko", "Lucas", "Amara", "Felix", "Ines", "Omar",
    "Sofia", "Mateo", "Hana", "Elias", "Nadia", "Ravi", "Clara", "Diego", "Yara", "Henrik",
    "Leila", "Bruno", "Freya", "Kwame", "Lena", "Pablo", "Mei", "Anton", "Zara", "Idris",
    "Greta", "Tariq", "Noor", "Emil", "Rosa", "Kenji", "Alba", "Sami", "Vera", "Otto",
    "Lucia", "Malik", "Ingrid", "Dario", "Esme", "Farid", "Nina", "Joaquin", "Thea", "Arjun",
    "Mila", "Ruben", "Selin", "Viktor", "Ayla", "Hugo", "Oona", "Marco", "Liesl", "Tobias",
)

CITIES = (
    "Lisbon", "Porto", "Lyon", "Ghent", "Krakow", "Seville", "Bologna", "Utrecht", "Tallinn",
    "Bergen", "Valencia", "Glasgow", "Dublin", "Vienna", "Zagreb", "Montreal", "Denver",
    "Portland", "Austin", "Osaka", "Busan", "Melbourne", "Auckland", "Santiago", "Bogota",
    "Nairobi", "Accra", "Marseille", "Leipzig", "Gdansk", "Turin", "Bilbao", "Aarhus", "Riga",
    "Ljubljana", "Halifax", "Edinburgh", "Copenhagen", "Helsinki", "Vancouver",
)

JOBS = (
    "nurse", "architect", "pharmacist", "data analyst", "carpenter", "paramedic", "librarian",
    "civil engineer", "dental hygienist", "translator", "sous-chef", "physiotherapist",
    "history teacher", "veterinarian", "graphic designer", "electrician", "accountant",
    "air traffic controller", "marine biologist", "journalist", "urban planner", "airline pilot",
    "florist", "social worker", "lab technician", "tour guide", "landscape gardener",
    "court reporter", "speech therapist", "structural welder",
)

PET_SPECIES = ("cat", "dog", "rabbit", "parrot", "tortoise", "hamster", "ferret", "guinea pig",
               "cockatiel", "kitten")
CHEWING_PETS = ("dog", "rabbit", "ferret", "guinea pig", "hamster", "puppy")
PET_NAMES = (
    "Biscuit", "Pepper", "Mochi", "Juniper", "Captain", "Noodle", "Olive", "Ziggy", "Maple",
    "Pickle", "Waffles", "Clover", "Tofu", "Pumpkin", "Sprocket", "Nacho", "Pixel",
    "Truffle", "Marmalade", "Figaro", "Dumpling", "Sir Wobbles", "Peanut", "Gizmo",
)

HOBBIES = (
    "pottery", "rock climbing", "birdwatching", "salsa dancing", "woodworking", "knitting",
    "chess", "sourdough baking", "trail running", "watercolour painting", "calligraphy",
    "kayaking", "beekeeping", "archery", "origami", "fencing", "playing the ukulele",
    "film photography", "embroidery", "gardening", "astronomy", "board game design",
)

FOODS = (
    "mushroom risotto", "pad thai", "shakshuka", "lentil soup", "paella", "ramen",
    "falafel wraps", "chicken tikka masala", "pierogi", "bibimbap", "gnocchi", "empanadas",
    "pho", "moussaka", "fish tacos", "khachapuri", "jollof rice", "ratatouille", "dumplings",
    "spinach lasagne",
)

COLOURS = (
    "teal", "mustard yellow", "sage green", "navy blue", "terracotta", "lavender",
    "charcoal grey", "coral", "burgundy", "cream", "forest green", "sky blue", "plum", "ochre",
)

FEMALE_NAMES = ("Marta", "Priya", "Aiko", "Amara", "Ines", "Sofia", "Hana", "Nadia", "Clara",
                "Yara", "Leila", "Freya", "Lena", "Mei", "Zara", "Greta", "Noor", "Rosa", "Alba",
                "Vera", "Lucia", "Ingrid", "Esme", "Nina", "Thea", "Mila", "Selin", "Ayla", "Oona",
                "Liesl")
# gender-neutral, so that any first name fits ("my cousin Jonas", "my cousin Marta")
RELATIONS = ("cousin", "best friend", "neighbour", "coworker", "old classmate", "flatmate",
             "teammate", "friend from work", "gym buddy", "childhood friend")

BORROWED_THINGS = ("ladder", "camping stove", "pressure washer", "sewing machine", "projector",
                   "tent", "drill", "stand mixer", "kayak", "telescope")
CHEWED_THINGS = ("headphone cable", "running shoes", "phone charger", "favourite scarf",
                 "laptop bag strap", "new slippers", "library book", "garden hose")

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_ONSETS = ("Vel", "Bran", "Tor", "Kest", "Orl", "Dun", "Ash", "Cal", "Fen", "Hal", "Ist", "Lor",
           "Nev", "Quel", "Rav", "Sel", "Thal", "Ulm", "Wyn", "Gar", "Mir", "Osk", "Pell", "Zan",
           "Brel", "Corv", "Dres", "Elm", "Jor", "Kal")
_MIDDLES = ("a", "e", "o", "i", "ar", "en", "il", "or", "u", "an")
_TOWN_ENDS = ("mora", "brook", "wick", "dal", "heim", "ford", "stead", "ven", "more", "ton",
              "gard", "lin", "by", "mouth", "vale")
_SURNAME_ENDS = ("mere", "ley", "worth", "ski", "son", "ard", "ello", "ova", "ström", "ez",
                 "holt", "ridge", "ani", "ert", "ine")
_BRAND_ENDS = ("ix", "ora", "eon", "ium", "ara", "ex", "yn", "ico", "aro", "oto")
_SPECIES_KINDS = ("warbler", "newt", "moth", "orchid", "beetle", "vole", "heron", "lily",
                  "salamander", "fern", "finch", "toad")
_COMPANY_KINDS = ("Systems", "Foods", "Labs", "Works", "Textiles", "Instruments", "Motors",
                  "Optics", "Mills", "Robotics")


def _word(rng: random.Random, ends: tuple[str, ...]) -> str:
    mid = rng.choice(_MIDDLES) if rng.random() < 0.5 else ""
    return rng.choice(_ONSETS) + mid + rng.choice(ends)


def invented_name(rng: random.Random, kind: str, used: set[str]) -> str:
    """A new proper name of ``kind`` (town, river, surname, brand, species, company, person).

    A name is skipped when it, or its distinctive word (the surname of a person, the first word
    otherwise: "Velmora" in "Velmora Systems"), is already in ``used``; both are then added, so
    one generator never gives two entities the same or a confusable name.
    """
    makers = {
        "town": lambda: _word(rng, _TOWN_ENDS),
        "river": lambda: _word(rng, ("en", "a", "is", "ue", "ow", "ar")),
        "surname": lambda: _word(rng, _SURNAME_ENDS),
        "brand": lambda: _word(rng, _BRAND_ENDS),
        "species": lambda: f"{_word(rng, _BRAND_ENDS)} {rng.choice(_SPECIES_KINDS)}",
        "company": lambda: f"{_word(rng, _BRAND_ENDS)} {rng.choice(_COMPANY_KINDS)}",
        "person": lambda: f"{rng.choice(FIRST_NAMES)} {_word(rng, _SURNAME_ENDS)}",
    }
    if kind not in makers:
        raise ValueError(f"invented_name: unknown kind {kind!r} (known: {', '.join(makers)})")
    for _ in range(1000):
        name = makers[kind]()
        key = name.split()[-1] if kind == "person" else name.split()[0]
        if name not in used and key not in used:
            used.update((name, key))
            return name
    raise RuntimeError(f"invented_name: ran out of fresh {kind} names ({len(used)} used)")


def pick_other(rng: random.Random, bank: tuple[str, ...], avoid: set[str] | str) -> str:
    """A bank value different from ``avoid`` (one value or a set of values)."""
    avoid = {avoid} if isinstance(avoid, str) else avoid
    choices = [v for v in bank if v not in avoid]
    if not choices:
        raise ValueError(f"pick_other: every value of the bank is excluded ({sorted(avoid)[:3]})")
    return rng.choice(choices)
