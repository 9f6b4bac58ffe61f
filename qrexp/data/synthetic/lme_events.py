"""Phrasings for the LongMemEval-like temporal and multi-session questions: dated events (which
came first, or when), and two-hop facts spread over two sessions.

Placeholders as in :mod:`qrexp.data.synthetic.lme_phrases`: {v} the answer value, {name}/{rel}
another person, {pet}/{item}/{month}/{weekday} extra slots, {d} a date such as "March 14".
"""
from __future__ import annotations

from qrexp.data.synthetic import names as N

# Dated events for temporal questions: "short" appears verbatim in every mention; "other" is a
# similar but different event of someone else (a distractor sharing the question's words).
EVENTS = (
    dict(short="the half marathon", mention=(
        "I ran the half marathon on {d} and my calves are still complaining.",
        "Back on {d} I finally finished the half marathon, just under two hours!"),
        when=("On what date did I run my 21-kilometre race?",
              "When did I complete my long-distance race?"),
        other="My {rel} {name} ran a full marathon on {d}, way faster than I ever could."),
    dict(short="the pottery workshop", mention=(
        "I went to the pottery workshop on {d} and made a very wonky bowl.",
        "On {d} I tried the pottery workshop downtown; there was clay everywhere."),
        when=("When did I attend the clay-making class?",
              "On which date did I try making ceramics?"),
        other="{name} took a painting workshop on {d} and loved it."),
    dict(short="the job interview", mention=(
        "I had the job interview on {d}, and I think it went well.",
        "Had the job interview on {d}; they asked so many questions."),
        when=("When was I interviewed for the new position?",
              "On what date did I meet the hiring panel?"),
        other="My {rel} {name} had a phone interview for a job on {d}."),
    dict(short="the wedding in the vineyard", mention=(
        "We went to the wedding in the vineyard on {d}; the speeches were so long.",
        "On {d} we danced at the wedding in the vineyard until midnight."),
        when=("On what date was the marriage ceremony I attended at the winery?",
              "When did I go to the celebration among the grapevines?"),
        other="{name} was a guest at a wedding in the mountains on {d}."),
    dict(short="the dentist appointment", mention=(
        "I finally went to the dentist appointment on {d}; no cavities!",
        "Had the dentist appointment on {d}, and it was quicker than I expected."),
        when=("When did I get my teeth checked?", "On what date did I see my dental surgeon?"),
        other="My {rel} {name} had an eye doctor appointment on {d}."),
    dict(short="the first driving lesson", mention=(
        "I had the first driving lesson on {d} and stalled the car three times.",
        "On {d} I took the first driving lesson; I was so nervous."),
        when=("When did I start learning to drive?",
              "On which date was my initial lesson behind the wheel?"),
        other="{name} had a first swimming lesson on {d} at the public pool."),
    dict(short="the food bank shift", mention=(
        "I volunteered for the food bank shift on {d}; we packed two hundred boxes.",
        "On {d} I did the food bank shift with some coworkers."),
        when=("When did I volunteer to pack donations?",
              "On what date did I help out at the charity pantry?"),
        other="My {rel} {name} worked a night shift at the hospital on {d}."),
    dict(short="the jazz concert", mention=(
        "We saw the jazz concert on {d}; the saxophonist was incredible.",
        "On {d} I went to the jazz concert at the old theatre."),
        when=("When did I go to hear live saxophone music?",
              "On which date did I attend the evening of improvised music?"),
        other="{name} saw a rock concert on {d} from the front row."),
    dict(short="the camping trip", mention=(
        "We left for the camping trip on {d} and it rained the whole time.",
        "On {d} we started the camping trip by the lake."),
        when=("When did my rainy outdoor getaway begin?",
              "On what date did I head off to sleep under canvas?"),
        other="My {rel} {name} went on a fishing trip on {d}."),
    dict(short="the flu shot", mention=(
        "I got the flu shot on {d}; my arm was sore for a day.",
        "On {d} I finally got the flu shot at the pharmacy."),
        when=("When did I get vaccinated this season?",
              "On what date did I have my seasonal vaccination?"),
        other="My {rel} {name} got a tetanus shot on {d}."),
)
FIRST_QUESTIONS = ("Which came first, {a} or {b}?", "Which did I do earlier: {a} or {b}?",
                   "Out of {a} and {b}, which happened first?")

# Two-hop facts for multi-session questions: "link" holds the answer, "use" names the entity
# the question refers to, and neither alone answers the question.
TWO_HOP = {
    "relative_trip": dict(bank=N.CITIES, link=(
        "My {rel} {name} moved to {v} in the autumn, so we mostly talk on video calls now.",
        "{name}, my {rel}, has been living in {v} for about a year and loves it.",
        "I miss my {rel} {name} ever since they settled in {v}.",
    ), use=(
        "I just booked flights to go and see {name} in {month}!",
        "I'm spending most of {month} with {name}; we haven't seen each other in ages.",
        "{name} invited me to stay with them for two weeks in {month}, and I said yes.",
    ), question=(
        "Which city am I travelling to in {month}?", "Where am I going on my trip in {month}?",
        "What city will I be visiting in {month}?",
    ), other=(
        "My {rel} {name} lives in {v} and keeps saying I should visit.",
        "A coworker of mine is flying to {v} in {month} for a conference.",
    )),
    "dinner_job": dict(bank=N.JOBS, link=(
        "My old roommate {name} works as a {v} now, which still surprises me.",
        "{name}, who I shared a flat with in college, finally qualified as a {v}.",
        "Fun fact: my college roommate {name} ended up becoming a {v}.",
    ), use=(
        "I'm having dinner with {name} on {weekday}; any ideas for a cosy restaurant?",
        "{name} and I are meeting for dinner on {weekday}, first time in months.",
        "On {weekday} I'm cooking dinner for {name}, so I need a menu.",
    ), question=(
        "What does the friend I'm having dinner with on {weekday} do for a living?",
        "What is the profession of the person I'm meeting for dinner on {weekday}?",
        "What job does my {weekday} dinner guest have?",
    ), other=(
        "My {rel} {name} works as a {v} and never has a free evening for dinner.",
        "I'm also having lunch with my {rel} on {weekday}; they just started a new job.",
    )),
    "pet_chewer": dict(bank=N.CHEWING_PETS, link=(
        "We adopted a {v} last month and called it {pet}.",
        "{pet}, our new {v}, is finally settling in.",
        "The shelter let us take home a {v}; we named it {pet}.",
    ), use=(
        "{pet} chewed through my {item} again, I could scream.",
        "Guess who destroyed my {item} this morning? {pet}, of course.",
        "I came home and found my {item} in pieces. Thanks, {pet}.",
    ), question=(
        "What kind of animal ruined my {item}?",
        "What species is the pet that chewed up my {item}?",
        "Which type of animal destroyed my {item}?",
    ), other=(
        "My {rel} {name} has a {v} that is very well behaved and never chews anything.",
        "The {v} next door destroyed the neighbour's fence last week.",
    )),
    "borrower_city": dict(bank=N.CITIES, link=(
        "{name} told me today that they're moving to {v} next month.",
        "Sad news: {name} is relocating to {v} for a new job.",
        "{name} just got the keys to a flat in {v} and leaves in a few weeks.",
    ), use=(
        "I lent my {item} to my neighbour {name} last week.",
        "{name} from next door borrowed my {item} for the weekend.",
        "My {item} is with {name}, my neighbour, at the moment.",
    ), question=(
        "Which city is the person who borrowed my {item} moving to?",
        "Where is the neighbour who has my {item} relocating to?",
        "To what city is the borrower of my {item} moving?",
    ), other=(
        "My {rel} {name} is moving to {v} in the summer.",
        "{name} borrowed my {item} once and never gave it back.",
    )),
}
