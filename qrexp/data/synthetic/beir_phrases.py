"""Encyclopedia phrasings for the BEIR-like corpus about invented towns, species, firms, inventors.

Per entity type and attribute: ``gold`` phrasings state the value in other words than the
questions, and ``ask`` pairs each question with a ``near`` passage about a confusable entity
({E2}) that reuses the question's own words with a different value. {E} entity, {S} surname,
{v} value.
"""
from __future__ import annotations

from qrexp.data.synthetic import names as N

INDUSTRIES = ("salt mining", "glassblowing", "cheese making", "shipbuilding", "wool weaving",
              "clockmaking", "olive pressing", "paper milling", "copper smelting", "tulip growing")
LANDMARKS = ("a leaning bell tower", "a covered wooden bridge", "a star-shaped fortress",
             "a floating market", "a lighthouse painted in red stripes", "a stone aqueduct",
             "a cliffside monastery", "a clock with twelve moving figures")
HABITATS = ("cloud forests", "salt marshes", "limestone caves", "alpine meadows",
            "mangrove swamps", "sand dunes", "peat bogs", "river gorges")
DIETS = ("beetle larvae", "fallen figs", "freshwater snails", "pine seeds",
         "nectar from night-blooming flowers", "small crustaceans", "lichen", "mosquito eggs")
PRODUCTS = ("folding bicycles", "hearing aids", "solar water heaters", "board games",
            "industrial sewing machines", "frozen dumplings", "ceramic tiles", "weather balloons",
            "electric ferries", "fountain pens")
INVENTIONS = ("a self-winding pocket watch", "a steam-powered loom", "a folding umbrella frame",
              "a pneumatic door closer", "a seed-sorting machine", "an improved typewriter ribbon",
              "a ringed lighthouse lens", "a mechanical calculator")

CONTEXT = {
    "town": ("The town hosts a small market every Thursday.",
             "Its narrow streets are closed to cars on Sundays.",
             "A regional railway line stops there twice a day.",
             "The old quarter was restored after a fire in the last century.",
             "Many houses still have painted wooden shutters.",
             "A folk festival fills the main square each August."),
    "species": ("It is rarely seen during the day.",
                "Local guides say it is easiest to spot after rain.",
                "Conservation groups count its numbers every spring.",
                "Its call is a short, dry click.",
                "Young ones stay with their parents for several weeks.",
                "Museum collections hold only a few preserved examples."),
    "company": ("The firm is privately held.", "It sponsors a youth football league.",
                "Its annual report is published every March.",
                "The business survived two recessions without layoffs.",
                "Its logo has barely changed since the early years.",
                "It runs an apprenticeship programme for school leavers."),
    "inventor": ("Several notebooks by {S} survive in a regional archive.",
                 "A street in the region carries the name {S}.",
                 "{S} corresponded with many engineers of the day.",
                 "Portraits show {S} in a plain grey coat.", "{S} rarely gave interviews.",
                 "Museums display a few original models built by {S}."),
}

# Confusable names for the near-duplicate passages.
NEAR_NAMES = {
    "town": ("North {E}", "Upper {E}", "{E} Heights", "Little {E}"),
    "species": ("lesser {E}", "giant {E}", "spotted {E}"),
    "company": ("{E} International", "{E} Group"),
    "inventor": ("{E} the Younger", "{F} {S}"),
}

ATTRS = {
    "town": {
        "river": dict(gold=(
            "{E} grew up around a ford across {v}, and barges still moor below its old quays.",
            "{E} lies on the banks of {v}, which floods the lower streets every few winters."),
            ask=(("Which river flows through {E}?", "The river flowing through {E2} is {v}."),
                 ("What river is {E} built on?", "{E2} is built on {v}, a slow river."),
                 ("Name the river that runs past {E}.", "The river that runs past {E2} is {v}."))),
        "founded": dict(gold=(
            "Parish records show that settlers from the coast established {E} in {v}.",
            "The first houses of {E} went up in {v}, around a small chapel."),
            ask=(("When was {E} founded?", "{E2} was founded in {v} as a trading post."),
                 ("In what year did {E} come into existence?",
                  "{E2} came into existence in the year {v}."),
                 ("How old is the town of {E}?", "The town of {E2} is old: it dates from {v}."))),
        "industry": dict(gold=(
            "Most families in {E} earn their living from {v}.",
            "For two centuries {v} has kept {E} prosperous."),
            ask=(("What is the main industry of {E}?", "The main industry of {E2} is {v}."),
                 ("What is the economy of {E} based on?", "The economy of {E2} is based on {v}."),
                 ("What do people in {E} do for work?", "People in {E2} mostly work in {v}."))),
        "landmark": dict(gold=(
            "Visitors to {E} usually head straight for {v}.",
            "Postcards from {E} nearly always show {v}."),
            ask=(("What is the most famous landmark in {E}?",
                  "The most famous landmark in {E2} is {v}."),
                 ("What sight should a tourist see in {E}?", "Tourists in {E2} should see {v}."),
                 ("Which monument is {E} known for?",
                  "{E2} is known for {v}, its best-loved monument."))),
        "population": dict(gold=(
            "Around {v} residents call {E} home, according to the last census.",
            "The last census counted roughly {v} residents in {E}."),
            ask=(("What is the population of {E}?", "The population of {E2} is about {v}."),
                 ("How many inhabitants does {E} have?", "{E2} has about {v} inhabitants."),
                 ("How many people live in {E}?", "About {v} people live in {E2}."))),
    },
    "species": {
        "habitat": dict(gold=(
            "The {E} keeps mostly to {v}, staying close to the ground.",
            "Field surveys record the {E} almost only in {v}."),
            ask=(("Where does the {E} live?", "The {E2} lives in {v}."),
                 ("What is the natural habitat of the {E}?",
                  "The natural habitat of the {E2} is {v}."),
                 ("In what kind of environment can the {E} be found?",
                  "The {E2} can be found in {v}, an unusual environment."))),
        "diet": dict(gold=(
            "The {E} feeds almost entirely on {v}.",
            "Stomach contents of the {E} consist mainly of {v}."),
            ask=(("What does the {E} eat?", "The {E2} eats {v}."),
                 ("What is the diet of the {E}?", "The diet of the {E2} is mostly {v}."),
                 ("What food does the {E} rely on?", "The {E2} relies on {v} as its main food."))),
        "lifespan": dict(gold=(
            "Individuals of the {E} can reach {v} years of age in the wild.",
            "A healthy {E} may survive for {v} years."),
            ask=(("How long does the {E} live?", "The {E2} lives for about {v} years."),
                 ("What is the lifespan of the {E}?",
                  "The lifespan of the {E2} is around {v} years."),
                 ("How many years does the {E} typically last?",
                  "The {E2} typically lasts {v} years."))),
        "discoverer": dict(gold=(
            "The {E} was first described by the naturalist {v} in a short field report.",
            "{v} collected the first specimen of the {E} during a river expedition."),
            ask=(("Who discovered the {E}?", "The {E2} was discovered by {v}."),
                 ("Which scientist first identified the {E}?",
                  "The scientist who first identified the {E2} was {v}."),
                 ("Who first found the {E}?", "{v} first found the {E2}."))),
        "colour": dict(gold=(
            "Adults of the {E} have {v} markings on a pale body.",
            "The {E} is easy to pick out by its {v} colouring."),
            ask=(("What colour is the {E}?", "The {E2} is {v} in colour."),
                 ("What does the {E} look like?", "The {E2} looks {v} from a distance."),
                 ("How can you recognise the {E}?",
                  "You can recognise the {E2} by its {v} colour."))),
    },
    "company": {
        "founder": dict(gold=(
            "{E} began in a rented garage owned by {v}, who still sits on its board.",
            "{v} launched {E} with two friends and a small bank loan."),
            ask=(("Who founded {E}?", "{E2} was founded by {v}."),
                 ("Who started the company {E}?", "The company {E2} was started by {v}."),
                 ("Who is the founder of {E}?", "The founder of {E2} is {v}."))),
        "headquarters": dict(gold=(
            "{E} runs its operations from offices in {v}.",
            "The management of {E} works out of an old warehouse in {v}."),
            ask=(("Where is {E} headquartered?", "{E2} is headquartered in {v}."),
                 ("In which city is the head office of {E}?",
                  "The head office of {E2} is in the city of {v}."),
                 ("Where are the headquarters of {E}?", "The headquarters of {E2} are in {v}."))),
        "product": dict(gold=(
            "{E} built its reputation on {v}.",
            "Most of the revenue of {E} comes from {v}."),
            ask=(("What does {E} manufacture?", "{E2} manufactures {v}."),
                 ("What products does {E} sell?", "The products {E2} sells are {v}."),
                 ("What is {E} known for making?", "{E2} is known for making {v}."))),
        "founded": dict(gold=(
            "{E} opened its first workshop in {v}.",
            "The story of {E} begins in {v}, when it received its first order."),
            ask=(("When was {E} established?", "{E2} was established in {v}."),
                 ("In what year was {E} founded?", "{E2} was founded in the year {v}."),
                 ("How long has {E} existed?", "{E2} has existed since {v}."))),
        "employees": dict(gold=(
            "{E} has a staff of about {v}.",
            "Roughly {v} people are on the payroll of {E} across its sites."),
            ask=(("How many employees does {E} have?", "{E2} has about {v} employees."),
                 ("How big is the workforce of {E}?", "The workforce of {E2} is {v} people."),
                 ("How many people work at {E}?", "About {v} people work at {E2}."))),
    },
    "inventor": {
        "invention": dict(gold=(
            "{E} is remembered for {v}, patented after years of trials.",
            "Patent records credit {E} with {v}."),
            ask=(("What did {E} invent?", "{E2} invented {v}."),
                 ("Which device is credited to {E}?", "The device credited to {E2} is {v}."),
                 ("What is {E} famous for creating?", "{E2} is famous for creating {v}."))),
        "birthplace": dict(gold=(
            "{E} spent a childhood in {v}, where the family kept a forge.",
            "Baptism records place the birth of {E} in {v}."),
            ask=(("Where was {E} born?", "{E2} was born in {v}."),
                 ("What is the birthplace of {E}?", "The birthplace of {E2} is {v}."),
                 ("Which town did {E} come from?", "{E2} came from the town of {v}."))),
        "education": dict(gold=(
            "{E} studied mechanics at {v}.", "{E} trained as an engineer at {v}."),
            ask=(("Where did {E} go to university?", "{E2} went to university at {v}."),
                 ("Where was {E} educated?", "{E2} was educated at {v}."),
                 ("Which school did {E} attend?", "{E2} attended {v}."))),
        "death": dict(gold=(
            "{E} passed away in {v}, leaving the workshop to an apprentice.",
            "The life of {E} ended in {v} after a long illness."),
            ask=(("When did {E} die?", "{E2} died in {v}."),
                 ("In what year did {E} die?", "{E2} died in the year {v}."))),
        "workshop": dict(gold=(
            "{E} kept a workshop in {v} for most of a long career.",
            "Most prototypes by {E} were built in {v}."),
            ask=(("In which city did {E} work?", "{E2} worked in the city of {v}."),
                 ("Where did {E} have a workshop?", "{E2} had a workshop in {v}."))),
    },
}


def attribute_value(rng, kind: str, attr: str, used: set[str]) -> str:
    """A fresh value for (entity type, attribute)."""
    banks = {"industry": INDUSTRIES, "landmark": LANDMARKS, "habitat": HABITATS, "diet": DIETS,
             "colour": N.COLOURS, "headquarters": N.CITIES, "product": PRODUCTS,
             "invention": INVENTIONS, "workshop": N.CITIES}
    if attr in banks:
        return rng.choice(banks[attr])
    if attr == "river":
        return "the " + N.invented_name(rng, "river", used)
    if attr in ("founded", "death"):
        return str(rng.randint(1120, 1890) if kind == "town" else rng.randint(1780, 2012))
    if attr == "population":
        return f"{rng.randint(12, 950) * 100:,}"
    if attr == "employees":
        return f"{rng.randint(3, 600) * 10:,}"
    if attr == "lifespan":
        return str(rng.randint(2, 40))
    if attr in ("discoverer", "founder"):
        return N.invented_name(rng, "person", used)
    if attr == "birthplace":
        return N.invented_name(rng, "town", used)
    if attr == "education":
        town = N.invented_name(rng, "town", used)
        return rng.choice((f"the University of {town}", f"the {town} Polytechnic"))
    raise ValueError(f"attribute_value: no value maker for {kind}/{attr}")
