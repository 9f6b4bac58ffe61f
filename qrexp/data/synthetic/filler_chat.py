"""Filler chat for the LongMemEval-like haystacks: ten everyday topics of five short rounds.

Each round is (user request, assistant reply). The texts avoid the word-bank values (cities,
jobs, pets, ...) so that filler never states a fact that a question could ask about.
"""
from __future__ import annotations

FILLER = (
    (
        ("Can you suggest a quick weeknight dinner with chickpeas and spinach? I have twenty "
         "minutes.",
         "Try a chickpea and spinach stew: fry garlic and cumin, add tomatoes and chickpeas, "
         "simmer ten minutes, then stir in the spinach until it wilts."),
        ("How long can I keep cooked leftovers in the fridge before they're unsafe?",
         "Most cooked leftovers keep three to four days. Cool them quickly, store them covered, "
         "and reheat until steaming hot."),
        ("What can I use instead of eggs when baking muffins?",
         "Mashed banana, apple sauce, or a flax egg (one tablespoon ground flax plus three of "
         "water) each replace roughly one egg."),
        ("My bread keeps coming out dense. What am I doing wrong?",
         "Dense bread usually means under-proofing, too little kneading, or old yeast. Let the "
         "dough double and check that the yeast foams first."),
        ("Is there a trick to cutting onions without crying?",
         "Chill the onion for fifteen minutes, use a very sharp knife, and cut the root end last."),
    ),
    (
        ("I want to start running but my knees ache after a few kilometres. Any advice?",
         "Build up slowly, about ten percent more distance per week, run on softer ground, and "
         "add squats and lunges twice a week."),
        ("What's a good stretching routine after a workout?",
         "Hold each stretch for about thirty seconds: calves, hamstrings, quads, hip flexors, and"
         " shoulders. Breathe slowly and never bounce."),
        ("How much water should I drink on a hot day if I'm exercising?",
         "Roughly half a litre to a litre per hour of activity, sipped regularly, plus some "
         "electrolytes if you sweat heavily."),
        ("Can you make me a simple three-day strength plan with no equipment?",
         "Day one: push-ups, squats, planks. Day two: lunges, glute bridges, side planks. Day "
         "three: step-ups and mountain climbers. Three sets each."),
        ("Is it bad to work out late at night?",
         "Not for most people. Keep intense sessions an hour before bed and finish with a calm "
         "cool-down."),
    ),
    (
        ("My laptop fan is always loud, even when I'm just browsing. Should I be worried?",
         "Usually it means dust or a background process using the processor. Check the task "
         "manager, then clean the vents with compressed air."),
        ("What's the difference between memory and storage, in simple terms?",
         "Memory is the desk you work on: fast but cleared at shutdown. Storage is the filing "
         "cabinet: slower, but it keeps your files."),
        ("How do I make a strong password that I can still remember?",
         "Use a passphrase of four or five unrelated words with a number, and keep the rest in a "
         "password manager."),
        ("Why does my phone battery drain so fast overnight?",
         "Common causes are apps refreshing in the background, a weak signal, or location "
         "services. The battery usage screen shows the culprit."),
        ("Can you explain what a VPN actually does?",
         "A VPN encrypts your traffic and routes it through another server, hiding your activity "
         "from the local network."),
    ),
    (
        ("What should I pack for a week-long hiking trip in the mountains?",
         "Layers are key: a base layer, a fleece, and a waterproof shell. Add broken-in boots, a "
         "first-aid kit, a headlamp, and snacks."),
        ("How early should I arrive at the airport for an international flight?",
         "About three hours before departure is a safe rule, especially if you check a bag."),
        ("Any tips for beating jet lag after a long flight east?",
         "Shift your sleep earlier for a few days before leaving, get morning sunlight when you "
         "land, and avoid long naps."),
        ("Is travel insurance really worth it for a short trip?",
         "Often, if you have prepaid bookings or medical care abroad would be expensive. Compare "
         "the cancellation cover first."),
        ("How can I avoid overpacking? My suitcase is always too heavy.",
         "Plan outfits around two or three colours, pack for five days and do laundry, then "
         "remove a third of what you laid out."),
    ),
    (
        ("Can you recommend a novel that is gripping but not too long?",
         "Look for a short literary thriller or a classic novella; many run under two hundred "
         "pages and stay tense throughout."),
        ("What's a good way to keep track of the books I read?",
         "A simple spreadsheet with title, author, date finished, and a one-line note works well."),
        ("How do I get back into reading after a long break?",
         "Start with something light you're curious about, read ten pages before bed, and drop "
         "books you don't enjoy."),
        ("Could you suggest a podcast format for my daily commute?",
         "Short narrative episodes of twenty to thirty minutes fit most commutes; interview shows"
         " are easy to pause."),
        ("What are some ways to run a book club that people actually attend?",
         "Pick shorter books, meet at a regular time, rotate who chooses, and prepare three open "
         "questions."),
    ),
    (
        ("My basil plant keeps wilting even though I water it. What's wrong?",
         "Overwatering is a common cause: basil likes moist, not soggy, soil. Check that the pot "
         "drains and gets six hours of sun."),
        ("How do I get rid of condensation on my windows in winter?",
         "Ventilate briefly every day, use the extractor fan when cooking or showering, and keep "
         "furniture off cold outside walls."),
        ("What's the easiest way to remove limescale from a kettle?",
         "Boil equal parts water and white vinegar in it, leave it for an hour, then rinse well."),
        ("Any ideas to make a small living room feel bigger?",
         "Use light walls, a large mirror opposite the window, furniture with visible legs, and "
         "fewer, larger pieces."),
        ("When is the best time to plant tulip bulbs?",
         "In autumn, a few weeks before the ground freezes, about three times as deep as the bulb"
         " is tall."),
    ),
    (
        ("I keep getting distracted while working from home. How can I focus better?",
         "Work in fifty-minute blocks with short breaks, keep your phone in another room, and use"
         " one spot only for work."),
        ("How should I prepare for a performance review next week?",
         "List your main achievements with numbers, note one or two areas to grow, and bring "
         "questions about next year's goals."),
        ("What's a polite way to decline an extra project?",
         "Thank them, explain your current priorities, and offer an alternative such as a later "
         "start date."),
        ("Can you help me structure a short presentation?",
         "Open with the main message, give three supporting points with one example each, and "
         "close with the next step."),
        ("How do I ask for feedback by email without sounding needy?",
         "Keep it short, name the specific piece of work, ask one or two concrete questions, and "
         "give a comfortable deadline."),
    ),
    (
        ("What's a simple way to start budgeting?",
         "Track every expense for a month, then split income into needs, wants, and savings."),
        ("Should I pay off debt first or build savings?",
         "Keep a small emergency fund first, then pay down high-interest debt, then save for "
         "larger goals."),
        ("How can I cut my grocery bill without eating badly?",
         "Plan meals around what's on sale, cook in batches, buy oats, beans, and grains in bulk,"
         " and shop with a list."),
        ("Is it worth switching bank accounts for a sign-up bonus?",
         "It can be, if there are no monthly fees and the deposit rules are easy; read the small "
         "print."),
        ("What is compound interest, in plain words?",
         "It's interest earned on earlier interest, so each year's interest is calculated on a "
         "slightly bigger balance."),
    ),
    (
        ("I'm learning Italian. How many new words should I try to learn per day?",
         "Ten to fifteen words a day is sustainable, especially with spaced repetition."),
        ("Are language apps enough to become fluent?",
         "They build vocabulary and habit, but fluency needs conversation, listening, and reading"
         " as well."),
        ("How do I stop translating in my head when I speak?",
         "Practise common phrases until they're automatic, describe your day aloud, and accept "
         "simple sentences at first."),
        ("What's the best way to practise listening?",
         "Use slow podcasts or shows with subtitles, replay short clips, and repeat what you hear"
         " aloud."),
        ("Can you give me a memory trick for grammatical gender?",
         "Learn every noun with its article and picture masculine and feminine words in two "
         "different colours."),
    ),
    (
        ("How often should I check the tyre pressure on my car?",
         "Once a month and before long drives, with the tyres cold; the right values are on a "
         "sticker inside the door."),
        ("My car squeaks when I brake. Is that serious?",
         "Squeaking often means the pads are worn to their indicator. Have them inspected before "
         "the discs get damaged."),
        ("What's the best way to clean the inside of a windscreen?",
         "Use a microfibre cloth with glass cleaner, wipe in straight lines, then buff with a dry"
         " cloth."),
        ("Should I warm up my car engine in winter before driving?",
         "Modern engines need about thirty seconds; after that, gentle driving warms them faster "
         "than idling."),
        ("How can I improve my car's fuel efficiency?",
         "Keep tyres inflated, remove unused roof racks, accelerate smoothly, and don't carry "
         "heavy items you don't need."),
    ),
)
