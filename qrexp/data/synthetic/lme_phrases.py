"""Phrasings for the LongMemEval-like chats: personal facts (single-session and knowledge-update
questions), their questions and distractors, and the asides that slip a fact into a request. Dated
events and two-hop facts (temporal and multi-session questions): :mod:`qrexp.data.synthetic.lme_events`.

Placeholders: {v} the fact's value, {name}/{rel} another person and their relation to the user,
{species}/{pet}/{item}/{month}/{weekday} extra slots, {d} a date such as "March 14".
Facts and questions are written to paraphrase each other, and distractors about other people
reuse the question's words, so that word overlap alone does not find the evidence.
"""
from __future__ import annotations

from qrexp.data.synthetic import names as N

# Personal attributes: bank, fact phrasings, question phrasings, the same attribute of someone
# else (distractors), and phrasings that replace an older value (knowledge updates).
SLOTS = {
    "city": dict(bank=N.CITIES, fact=(
        "I moved to {v} last spring and I'm still learning my way around.",
        "Ever since I relocated to {v}, my commute has been a bike ride along the water.",
        "Our little flat in {v} finally has decent internet, so I can work from home.",
    ), question=(
        "Which city do I live in now?", "Where am I based these days?",
        "What city is my home at the moment?",
    ), other=(
        "My {rel} {name} lives in {v} and keeps saying the city is the best place to live.",
        "{name}, a friend from work, just bought a house in {v}; they plan to live there for good.",
        "My {rel} grew up in {v}, so they know every corner of that city.",
    ), update=(
        "Big news: we packed everything up and moved to {v} last month.",
        "I finally left my old place behind; home is {v} now.",
        "The relocation is done and {v} is officially where we're settled as of this week.",
    )),
    "job": dict(bank=N.JOBS, fact=(
        "I've been working as a {v} for about three years now.",
        "Long shift today; being a {v} is more tiring than people think.",
        "When I trained to become a {v}, nobody warned me about the paperwork.",
    ), question=(
        "What do I do for a living?", "What is my profession?", "What kind of work do I do?",
    ), other=(
        "My {rel} {name} is a {v} and says the work is rewarding but exhausting.",
        "{name} from my running club just qualified as a {v}; that's their profession now.",
        "My {rel} has earned a living as a {v} since college.",
    ), update=(
        "I handed in my notice and started a new role as a {v} on Monday.",
        "Career change complete: I'm officially a {v} now.",
        "After a year of retraining, I finally got hired as a {v}.",
    )),
    "pet": dict(bank=N.PET_NAMES, fact=(
        "My {species} {v} knocked a plant off the windowsill again this morning.",
        "I adopted a {species} from the shelter in the spring and gave her the name {v}.",
        "{v}, my {species}, has decided that the sofa belongs to her.",
    ), question=(
        "What is my {species} called?", "What name did I give my {species}?",
        "What's the name of my pet {species}?",
    ), other=(
        "My {rel}'s {species} is called {v} and it stayed with us for the weekend.",
        "{name} has a {species} named {v} that steals socks.",
        "The {species} next door is called {v}; my {rel} looks after it sometimes.",
    ), update=()),
    "hobby": dict(bank=N.HOBBIES, fact=(
        "I've gotten really into {v} lately; it's the best part of my week.",
        "My Tuesday evenings are reserved for {v} now, no exceptions.",
        "I signed up for a {v} course at the community centre and I'm hooked.",
    ), question=(
        "What hobby have I taken up recently?", "What do I do for fun these days?",
        "Which pastime have I been spending my free evenings on?",
    ), other=(
        "My {rel} {name} keeps inviting me to try {v}, their favourite hobby.",
        "{name} spends every free evening on {v}, apparently; it's their new pastime.",
        "My {rel} took up {v} for fun recently.",
    ), update=(
        "I've dropped my old hobby completely; these days it's all about {v}.",
        "Switched things up: I spend my evenings on {v} instead now.",
        "I quit the old class and joined a {v} group; I'm loving the change.",
    )),
    "food": dict(bank=N.FOODS, fact=(
        "Honestly nothing beats a big bowl of {v}; I could eat it every single day.",
        "Whenever I've had a rough day I cook {v}; it always cheers me up.",
        "If I could only eat one thing for the rest of my life, it would be {v}.",
    ), question=(
        "What is my favourite dish?", "Which meal do I like the most?",
        "What food do I turn to for comfort?",
    ), other=(
        "My {rel} {name} makes amazing {v}; it's their favourite dish.",
        "{name} ordered {v} at the restaurant and said it was the best meal of the year.",
        "My {rel} eats {v} whenever they need comfort food.",
    ), update=()),
    "colour": dict(bank=N.COLOURS, fact=(
        "We painted the bedroom walls {v} over the weekend and it feels so calm.",
        "The new paint in my bedroom is {v}; I picked it out of about forty samples.",
        "I finally finished the bedroom: {v} walls, white trim, and a new rug.",
    ), question=(
        "What colour are my bedroom walls?", "Which shade did I choose for my bedroom?",
        "What colour did I paint the room where I sleep?",
    ), other=(
        "{name} painted their bedroom walls {v}, which is a bold colour.",
        "My {rel}'s new car is {v}; I'd never choose that colour.",
        "My {rel} {name} chose {v} for their kitchen walls.",
    ), update=(
        "We repainted the bedroom again, and this time it's {v}.",
        "I couldn't live with the old shade, so the bedroom is {v} now.",
        "Second attempt at the bedroom: {v} walls, and I think it's finally right.",
    )),
    "sibling": dict(bank=N.FEMALE_NAMES, fact=(
        "My sister {v} is coming to stay with me for a week, so I'm tidying up.",
        "I'm helping my sister {v} plan her wedding, which is a lot of spreadsheets.",
        "{v}, my younger sister, just started university.",
    ), question=(
        "What is my sister's name?", "What's my sister called?",
        "What is my sister's first name?",
    ), other=(
        "My {rel} {name}'s sister is called {v}.",
        "My coworker has a sister named {v} who is also visiting this week.",
        "{name} and their sister {v} run a bakery together.",
    ), update=()),
}
KU_SLOTS = ("city", "job", "hobby", "colour")

# How a fact is slipped into an ordinary request.
ASIDES = ("{fact} {req}", "{req} Oh, one more thing. {fact}", "Quick context: {fact} {req}",
          "{req} (Side note: {fact})", "{fact} Anyway, on to my question. {req}",
          "{req} P.S. {fact}")
