"""Story material for the CLIPPER-like books: places, weather, objects, helpers and sentences.

Each detail has a narrative wording (used in chapters) and a plain wording (used in claims), so
a claim paraphrases the chapter instead of quoting it.
"""
from __future__ import annotations

TITLE_NOUNS = ("Lantern", "Ferryman", "Salt Road", "Glass Harbour", "Winter Orchard",
               "Iron Bell", "Silent Mill", "Last Lighthouse", "Copper Tide", "Hollow Crown")

# (narrative with {T} = an invented town name, kind of place for claims)
PLACES = ("the harbour town of {T}", "the old mill at {T}", "the abbey of {T}",
          "the salt marshes near {T}", "the lighthouse on {T} Point", "the market square of {T}",
          "the mountain pass above {T}", "the ruined fort at {T}", "the river crossing at {T}",
          "the orchards of {T}", "the quarry village of {T}", "the bridge at {T}")

WEATHER = {   # key: (chapter sentence, claim phrase)
    "fog": ("A thick fog hid the rooftops and muffled every sound.", "on a foggy day"),
    "rain": ("A cold, steady rain soaked through their coats.", "in the rain"),
    "snow": ("The first snow of the year was falling softly.", "while it is snowing"),
    "storm": ("Thunder rolled over the hills and lightning lit the road.", "during a storm"),
    "heat": ("The midsummer heat pressed down on the empty streets.", "on a sweltering day"),
    "clear": ("Not a single cloud marked the sky.", "under a clear sky"),
    "wind": ("A fierce wind tore at their coats and rattled the shutters.", "on a windy day"),
}
TIMES = {     # key: (chapter phrase, claim phrase)
    "dawn": ("just as the sun rose", "at dawn"),
    "noon": ("when the bells rang twelve", "at midday"),
    "dusk": ("as the light was fading", "at dusk"),
    "night": ("long after midnight", "in the middle of the night"),
}
OBJECTS = (   # (chapter phrase, claim noun)
    ("a small brass key with a ribbon tied to it", "brass key"),
    ("a map drawn on a scrap of sailcloth", "sailcloth map"),
    ("a silver compass whose needle trembled", "silver compass"),
    ("a letter sealed with blue wax", "sealed letter"),
    ("a lantern of green glass", "green lantern"),
    ("a whistle carved from bone", "bone whistle"),
    ("a ledger bound in red leather", "red ledger"),
    ("a tin box rattling with seeds", "tin of seeds"),
    ("a pocket telescope in a velvet case", "pocket telescope"),
    ("a folded sketch of a three-masted ship", "ship sketch"),
    ("a jar of dark heather honey", "jar of honey"),
    ("a coil of tarred rope", "coil of rope"),
)
PURPOSES = (  # (chapter phrase, claim phrase)
    ("to open the chest hidden in the crypt", "open a hidden chest"),
    ("to signal the boat waiting offshore", "signal a boat"),
    ("to find the safe path through the reeds", "find a way through the reeds"),
    ("to prove that the harbour master had lied", "show that an official lied"),
    ("to bargain for two horses", "trade for horses"),
    ("to climb down into the dry well", "get down into a well"),
    ("to read the faded names on the chapel wall", "read names on a wall"),
    ("to win the trust of the guards at the gate", "gain the guards' trust"),
)
JOBS = ("ferryman", "clockmaker", "innkeeper", "lamplighter", "cartographer", "beekeeper",
        "blacksmith", "harbour pilot", "bookbinder", "shepherd", "glassblower", "apothecary")
TRAITS = ("spoke mostly in riddles", "had not left the place in twenty years",
          "kept a notebook of every stranger's name", "laughed at everything {C} said",
          "walked with a limp from an old fall", "hummed sea shanties while working",
          "refused to give a family name", "fed a crowd of stray cats")

ARRIVALS = ("{P} and {C} reached {place} {time}.",
            "{P} finally arrived at {place} {time}, with {C} close behind.",
            "{time_cap}, {P} and {C} came to {place}.")
SCENERY = ("Gulls circled over the slate roofs and cried at nothing.",
           "The smell of woodsmoke hung in the narrow lanes.",
           "A dog barked somewhere behind the crooked walls.",
           "Fishing nets lay drying along a low stone wall.",
           "Carts loaded with barrels rattled past the travellers.",
           "Ivy covered half of the houses, and most windows were shuttered.")
MEETINGS = ("There they met {H}, {a_job} who {trait}.",
            "The first person to greet them was {H}, the local {job}, who {trait}.",
            "{P} soon found {H}, {a_job} who {trait}.")
GIFTS = ("Before they parted, {H} pressed {obj} into {P}'s hands.",
         "{H} handed {P} {obj} and made {P} promise to keep it safe.",
         "As a farewell, {H} left {obj} on the table for {P}.")
USES = ("Remembering {giver}, {P} took out the {noun} and used it {purpose}.",
        "{P} used the {noun} that {giver} had given them {purpose}.")
RETURNS = ("To their surprise, {H} was there too, having followed them from {prev}.",
           "{H}, the {job} they had met at {prev}, appeared again that evening.")
RIVAL = ("{R} was seen watching them from across the road.",
         "Word came that {R} had been asking questions about them.",
         "{R} passed them on a grey horse without a word.")
CLOSINGS = ("{C} wrote everything down in the travel journal that night.",
            "They slept badly, listening to the building creak.",
            "{P} could not stop wondering what {H} had really meant.",
            "By morning they were ready to move on.",
            "{C} counted their remaining coins twice before sleeping.")
