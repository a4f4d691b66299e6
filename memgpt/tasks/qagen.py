"""Deterministic rule-based generator of SQuAD-style extractive QA items from English text.

Pure Python (``re`` only). A document is cleaned of WikiText artefacts, cut into contexts at
paragraph (else sentence) boundaries, and each sentence is matched against pattern rules (who,
what, when, where, which, why, how many, how much, other). Every answer is an exact, whole-word
span of its context that occurs there exactly once; items failing any check are dropped.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

QTYPES = ("who", "what", "when", "where", "how many", "how much", "which", "why", "other")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_YEAR = r"(?<![\d.,$£€])(?:1[0-9]{3}|20[0-9]{2})(?![\d\-–])"
_DATE = rf"(?:(?:\d{{1,2}} )?(?:{_MONTHS}) (?:\d{{1,2}}, )?)?{_YEAR}"
_WNUM = "(?i:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty" \
        "|forty|fifty|hundreds|thousands|dozens)"
_NUM = (rf"(?:(?<![\d.,$£€])(?:\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?![\d,.]\d)|{_WNUM})"
        r"(?: (?:million|billion|thousand|hundred))?")
_MONEY = (rf"(?:(?:US|A|C)?[$£€]\d[\d,.]*\d?(?: (?:million|billion|thousand))?"
          rf"|{_NUM} (?:dollars|pounds|euros))")
_PCT = rf"{_NUM}(?: ?%| per ?cent)"
_PLURAL = r"(?:[a-z]+ )?(?:[a-z]{2,}s|children|people|men|women|staff|personnel|crew)"
_CAPW = r"[A-Z][\w&'’-]*"
_NAME = rf"{_CAPW}(?: (?:(?:of|the|de|da|van|von|upon|on|la|le|du) ){{0,2}}{_CAPW}){{0,5}}"
_MODW = ("a total of|about|approximately|around|over|more than|nearly|almost|some|at least|"
         "an estimated|roughly|up to")
_MOD = rf"(?: (?:{_MODW}))?"
_ADVS = set(
    "again also briefly eventually finally first formerly immediately initially jointly later "
    "never not officially once only originally previously quickly reportedly soon still "
    "subsequently successfully then ultimately".split())
_AUX = set(
    "are can could did do does had has have is may might must should was were will would".split())
_BAD_FIRST = set(
    "About Above According After Against All Along Also Although Among And Another Any Around As "
    "At Because Before Being Below Between Both But By Despite During Each Either Even Few "
    "Following For From Having He Hence Her Here Him His How However I If In Including Instead It "
    "Its Just Less Like Many Me Meanwhile More Most Much My Near Neither No Not Note Of On Once "
    "One Only Or Other Our Over Several She Since So Some Such That Their Them Then There "
    "Therefore These They This Those Though Through Throughout Thus To Under Unlike Until Upon Us "
    "We What When Where Whereas Which While Who Why With Within Without Yet You".split())
_SUBJ_STOP = set(
    "about across after against as at back before between by down during following for former "
    "from he herself himself i if in into it itself latter most off on other out over same she "
    "such than that themselves there these they this those through to toward towards under up "
    "upon we when where which while who whom whose with within without you later earlier "
    "ago".split())
_NONPLACE = set(_MONTHS.split("|")) | set(
    "Act Arabic Chinese Dutch English French Friday Game Games German Greek Italian Japanese "
    "Latin Monday Portuguese Russian Saturday Season Spanish Sunday The Thursday Tuesday War "
    "Wednesday World".split())
_IRREG = (
    "build built built|begin began begun|win won won|write wrote written|make made made|take took"
    " taken|give gave given|sell sold sold|buy bought bought|lead led led|hold held held|meet met"
    " met|fight fought fought|sing sang sung|draw drew drawn|grow grew grown|lose lost lost|spend"
    " spent spent|send sent sent|teach taught taught|break broke broken|rise rose risen|fall fell"
    " fallen|find found found|strike struck struck|bring brought brought|choose chose "
    "chosen|shoot shot shot|beat beat beaten|sink sank sunk|steal stole stolen|rebuild rebuilt "
    "rebuilt|withdraw withdrew withdrawn|undertake undertook undertaken|oversee oversaw "
    "overseen|catch caught caught|keep kept kept|pay paid paid|become became become|leave left "
    "left|cost cost cost|go went gone|see saw seen|bear bore born|wed wed wed|travel travelled "
    "travelled|travel traveled traveled|ban banned banned|star starred starred|plan planned "
    "planned|stop stopped stopped|control controlled controlled|commit committed committed|drop "
    "dropped dropped|admit admitted admitted|top topped topped|submit submitted submitted|refer "
    "referred referred|transfer transferred transferred")
_REGULAR = (
    "found create establish design develop direct produce release record publish open close "
    "complete start end join sign play score marry move return receive announce launch introduce "
    "acquire purchase invade attack capture defeat destroy discover invent form name elect "
    "appoint paint compose perform organize organise host reach visit serve retire resign "
    "graduate study work live die kill injure raise earn finish replace donate fund restore "
    "expand rename arrive settle emigrate order approve pass adopt unveil exhibit premiere air "
    "debut tour attend enter occupy succeed command construct hire employ select relocate obtain "
    "assist display declare issue conquer locate base situate educate bury stage film print "
    "station arrest hospitalize gross invest increase decrease decline consecrate demolish "
    "commission manage coach train seize assault author conclude imprison headquarter use include "
    "continue call describe consider decide force cause support add award praise provide feature "
    "assign place agree require conduct dedicate damage inspire compare cover change influence "
    "offer present mark reduce engage oppose accept contribute affect represent criticize "
    "criticise help invite promote extend grant own list suffer dominate achieve reveal prove "
    "turn propose operate connect apply deliver surround defend reject schedule voice convert "
    "prepare maintain share cross survive collect retain enjoy remove house abandon depict "
    "advance watch install arrange erect execute observe head post govern secure rank rule gain "
    "sentence face resume link designate protect cite discuss recover encourage initiate "
    "demonstrate divide assemble commence modify highlight allocate coin fill relegate measure "
    "handle surrender decommission generate improve absorb adapt distribute dismiss administer "
    "learn authorize alter sustain dispatch prevent separate investigate compile portray identify "
    "celebrate reopen advise delay deploy inhabit review gather block murder examine trade lease")
_SYN = dict(p.split(":") for p in (
    "build:construct construct:build begin:start start:begin found:establish establish:found "
    "die:pass_away buy:purchase purchase:buy finish:complete complete:finish receive:obtain "
    "marry:wed move:relocate compose:write employ:hire hire:employ choose:select select:choose "
    "rise:increase increase:rise fall:drop drop:fall decline:fall acquire:buy release:issue "
    "write:author defeat:beat beat:defeat capture:seize locate:situate situate:locate "
    "discover:find invent:create develop:create gross:earn appoint:name attack:assault").split())
_WSYN = dict(p.split(":") for p in (
    "film:movie movie:film company:firm ship:vessel largest:biggest biggest:largest began:started "
    "approximately:about").split())
_AGENT = dict(p.split(":") for p in (
    "found:founder design:designer write:author direct:director develop:developer "
    "compose:composer paint:painter build:builder discover:discoverer invent:inventor "
    "create:creator produce:producer publish:publisher lead:leader establish:founder "
    "construct:builder command:commander").split())
_PLACE_VERBS = set(
    "arrest arrive base bear build bury consecrate die discover educate emigrate establish film "
    "find found grow headquarter hold imprison kill live locate marry move open premiere print "
    "publish raise record release relocate retire return settle situate stage station study teach "
    "train travel wed work".split())
_TO_VERBS = {"move", "emigrate", "return", "relocate", "travel"}
_OBJ_VERBS = set(
    "acquire appoint attend beat build buy capture command compose conquer create defeat design "
    "destroy develop direct discover earn employ establish form found hire host introduce invade "
    "invent join launch marry meet occupy open paint produce publish purchase receive record "
    "release replace sell sign succeed wed win write".split())
_PERSON_OBJ = set(
    "appoint beat defeat employ hire marry meet replace sign succeed wed".split())
_CLASS = {w: w.lower() for w in (
    "University College School Academy Institute Party Club Church Cathedral Abbey Museum "
    "Hospital River Award Prize Cup Trophy Championship Army Navy Company Corporation Railway "
    "Station Hotel Theatre Stadium Park Castle Palace Island Lake County Province State City Town "
    "Village District Street Road Bridge Band Orchestra League Regiment Division Fleet Bank "
    "Council Court Gallery Library Airport Festival Hall").split()} | {"Records": "record label"}
_PLACE_HEAD = set(
    "borough city commune community county district hamlet island lake mountain municipality "
    "neighborhood neighbourhood parish port river settlement suburb town village".split())
_CLAUSE_END = re.compile(
    r",(?=\s)(?! \d{4})| that\b|[;:()\[\]\"]| [-–—] |(?<!named) after\b"
    r"| (?:and|but|while|which|who|whom|whose|"
    r"where|when|although|though|before|because|due to|as a result|until|since|whereas|so that|"
    r"as well as|following|despite|including|whilst|thereby|making|becoming)\b")
_FRONT = re.compile(
    rf"^(?:(?:However|Later|Meanwhile|Eventually|Subsequently|Afterwards|Additionally|Initially|"
    rf"Originally|Today|Currently|Finally|Nevertheless|In addition|At the time),? |"
    rf"(?:In|On|During) (?P<d>{_DATE}),? |(?:After|Before|During|Following|In|On|At|By|Since|Upon|"
    rf"With|Despite|Although|While|When|As|Under|Throughout|Between|From|For|Unlike|Like) "
    rf"[^,;\"()]{{3,70}}, (?=[A-Z]|the |a |an |he |she |it ))")
_PASSIVE = ("was", "wer", "is ", "are")
_ABBR = set("mr mrs ms dr st jr sr inc ltd co no vs gen col lt capt sgt rev prof jan feb mar apr "
            "jun jul aug sep sept oct nov dec mt fig ca approx".split())


def _past(base: str) -> str:
    if base.endswith("e"):
        return base + "d"
    return base[:-1] + "ied" if re.search(r"[^aeiou]y$", base) else base + "ed"


_FORMS: dict[str, tuple[str, str]] = {b: (_past(b), _past(b)) for b in _REGULAR.split()}
for _entry in _IRREG.split("|"):
    _b, _p, _pp = _entry.split()
    _FORMS.setdefault(_b, (_p, _pp))
_PAST = {p: b for b, (p, _) in _FORMS.items()} | {"traveled": "travel"}
_PP = {pp: b for b, (_, pp) in _FORMS.items()} | {"traveled": "travel"}
_PAST["found"], _PP["found"] = "find", "find"


@dataclass
class _Parse:
    """A sentence split into fronted date, subject and first predicate clause."""

    subj: str
    subj_off: int
    qsubj: str
    pron: bool
    pred: str
    pred_off: int
    fdate: tuple[str, int] | None
    person: bool


def clean_wikitext(text: str) -> str:
    """Undo WikiText tokenisation artefacts and normalise paragraphs.

    Args:
        text: Raw document text (WikiText-style or plain).

    Returns:
        Text without heading lines, with " @-@ "/" @,@ "/" @.@ " joined, spaces before
        punctuation and inside brackets/quotes removed, and paragraphs separated by a blank
        line. A line ending in sentence punctuation ends a paragraph; other lines are joined.
    """
    paras: list[str] = []
    cur: list[str] = []
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if re.fullmatch(r"(?:=\s*)+[^=]+?(?:\s*=)+", line) or not line:
            if cur:
                paras.append(" ".join(cur))
            cur = []
            continue
        line = re.sub(r" @([-,.])@ ", r"\1", line)
        line = re.sub(r'"\s*([^"]*?)\s*"', r'"\1"', line)
        line = re.sub(r"([(\[]) +", r"\1", line)
        line = re.sub(r" +([)\],.;:!?%])", r"\1", line)
        line = re.sub(r"([$£€]) (?=\d)", r"\1", line)
        line = re.sub(r" (['’](?:s|re|ve|d|ll|m)\b|n't\b)", r"\1", line)
        line = re.sub(r"(?<=s) '(?= )", "'", line)
        cur.append(re.sub(r"\s+", " ", line))
        if re.search(r"[.!?][\"')\]]*$", line):
            paras.append(" ".join(cur))
            cur = []
    return "\n\n".join(paras)


def _sentences(text: str, base: int = 0) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of one paragraph, shifted by ``base``."""
    spans, start = [], 0
    for m in re.finditer(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])", text):
        last = re.search(r"(\S+)$", text[: m.start() + 1]).group(1)
        word = last.rstrip(".").lower().lstrip("(\"'")
        if word in _ABBR or re.fullmatch(r"[a-z]|(?:[a-z]\.)+[a-z]", word):
            continue
        spans.append((base + start, base + m.start() + len(m.group().rstrip())))
        start = m.end()
    if text[start:].strip():
        spans.append((base + start, base + len(text.rstrip())))
    return spans


def _chunks(text: str, max_context: int) -> list[tuple[int, int]]:
    """Greedy packing of paragraphs (else sentences) into spans of at most ``max_context``."""
    units: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text):
        if m.end() - m.start() <= max_context:
            units.append((m.start(), m.end()))
            continue
        for s, e in _sentences(m.group(), m.start()):
            while e - s > max_context:
                cut = text.rfind(" ", s, s + max_context)
                cut = cut if cut > s else s + max_context
                units.append((s, cut))
                s = cut + 1
            units.append((s, e))
    out: list[tuple[int, int]] = []
    for s, e in units:
        if out and e - out[-1][0] <= max_context:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _balanced(s: str) -> bool:
    return s.count("(") == s.count(")") and s.count("[") == s.count("]") and s.count('"') % 2 == 0


def _doc_entity(text: str) -> tuple[str, str, bool] | None:
    """The first sentence's subject and whether the document treats it as a person or thing."""
    first = re.sub(r" \([^()]*\)", "", text[:400])
    m = re.match(rf"({_NAME}) (?:is|was|are|were) ", first)
    if not m or len(m.group(1).split()) > 6:
        return None
    low = text.lower()
    he = len(re.findall(r"\b(?:he|his|him)\b", low))
    she = len(re.findall(r"\b(?:she|her)\b", low))
    it = len(re.findall(r"\b(?:it|its)\b", low))
    human = bool(re.match(rf"{_NAME} \((?:born )?[^()]*\d{{4}}", text[:400]))
    if max(he, she) >= 3 and max(he, she) >= it and 2 <= len(m.group(1).split()) <= 4:
        return m.group(1), "he" if he >= she else "she", human
    return m.group(1), "thing", False


def _question_subject(subj: str, ent: tuple[str, str, bool] | None,
                      vocab: set[str]) -> tuple[str, bool] | None:
    """The subject phrase as used inside a question, resolving a safe leading pronoun."""
    words = re.sub(r" \([^()]*\)", "", subj).split()
    if not words:
        return None
    words[0] = words[0][:1].upper() + words[0][1:]
    if words[0] in ("He", "She", "It", "His", "Her", "Its"):
        kind = {"Hi": "he", "He": "he", "Sh": "she", "It": "thing"}[words[0][:2]]
        if ent is None or ent[1] != kind or (len(words) == 1) != (words[0] in ("He", "She", "It")):
            return None
        return (ent[0] + ("'s " + " ".join(words[1:]) if len(words) > 1 else "")), True
    if "The" in words[1:]:
        return None
    if words[0] not in _BAD_FIRST and words[0].lower() in vocab and (len(words) == 1
                                                                     or words[1].islower()):
        words[0] = words[0].lower()
    if (len(words) > 8 or words[0] in _BAD_FIRST or not _balanced(subj) or "?" in subj
            or any(w.endswith("ly") and w.islower() for w in words)
            or any(w.lower() in _SUBJ_STOP for w in words[1:]) or re.search(r"[,;:]", subj)
            or words[-1].endswith("ly") or words[-1].lower() in ("the", "a", "an", "of", "and")):
        return None
    if words[0] in ("The", "A", "An", "More") and len(words) > 1:
        words[0] = words[0].lower()
    return " ".join(words), False


def _verbish(word: str) -> bool:
    return word in _AUX or word in _PAST


def _split_subject(body: str) -> tuple[str, int] | None:
    """The subject before the first finite verb (skipping an appositive) and the verb offset."""
    ap = re.match(r"([^,]{2,60}), [^,]{3,80}, (?=[a-z])", body)
    if ap and _verbish(body[ap.end():].split(" ", 1)[0]):
        return ap.group(1), ap.end()
    words = list(re.finditer(r"\S+", body))
    w = next((w for i, w in enumerate(words[:10]) if i and _verbish(w.group())), None)
    if w is None:
        return None
    sw = body[: w.start()].split()
    while len(sw) > 1 and sw[-1] in _ADVS:
        sw.pop()
    return " ".join(sw), len(" ".join(sw)) + 1


def _parse(sent: str, off: int, ent: tuple[str, str, bool] | None, resolve: bool,
           vocab: set[str]) -> list[_Parse]:
    """Split a sentence at its first finite verb into subject and predicate clause(s).

    Args:
        sent: The sentence.
        off: Offset of the sentence in its context.
        ent: The document entity ``(name, pronoun kind, is_human)``.
        resolve: Whether a leading pronoun may be replaced with the entity.
        vocab: Words seen in lower case in the document (to lower-case a sentence's first word).

    Returns:
        The main predicate and a conjoined one ("..., and was educated at ..."); empty when
        the subject is unusable.
    """
    m = _FRONT.match(sent)
    boff = m.end() if m else 0
    fdate = (m.group("d"), off + m.start("d")) if m and m.group("d") else None
    body = sent[boff:]
    split = _split_subject(body)
    qs = split and _question_subject(split[0], ent if resolve else None, vocab)
    if not split or not qs:
        return []
    subj, pstart = split
    name = re.sub(r" \([^()]*\)", "", subj)
    person = ent is not None and ent[2] and (subj in ("He", "She") or ent[0] == name)
    out, rest = [], body[pstart:]
    while rest and len(out) < 2:
        cut = _CLAUSE_END.search(rest)
        pred = (rest[: cut.start()] if cut else rest).rstrip(" .!?")
        first, nxt = pred.split(" ", 1)[0], rest[len(pred):]
        if re.match(r" (?:and|or) ", nxt) and not _verbish(nxt[1:].split(" ")[1]):
            break
        rel = re.match(rf"\w+ {_NAME} (\w+)", pred)
        if rel and _verbish(rel.group(1)) or out and first in _PAST and \
                out[0].pred[:3] in _PASSIVE and _FORMS[_PAST[first]][1] == first:
            break
        out.append(_Parse(subj, off + boff, qs[0], qs[1], pred, off + boff + pstart, fdate, person))
        conj = re.match(r",? and (?:(?:also|later|then) )?", rest[len(pred):])
        if not conj or not _verbish(rest[len(pred) + conj.end():].split(" ", 1)[0]):
            break
        pstart += len(pred) + conj.end()
        rest = body[pstart:]
    return out


def _inflect(base: str, form: int) -> str:
    head, _, tail = base.replace("_", " ").partition(" ")
    return f"{_FORMS[head][form] if head in _FORMS else head} {tail}".strip()


def _invert(words: list[str], syn: bool) -> tuple[str, list[str]] | None:
    """Subject-aux inversion data for a predicate: ``(aux, rest)`` or ``None``."""
    w = list(words)
    if not w:
        return None
    if w[0] in ("has", "have", "had") and (len(w) < 2 or (w[1] not in _PP and w[1] not in _ADVS
                                                          and w[1] != "been"
                                                          and not w[1].endswith("ed"))):
        return {"has": "does", "have": "do", "had": "did"}[w[0]], ["have"] + w[1:]
    if w[0] in _AUX:
        rest = w[1:]
        for i, x in enumerate(rest[:3]):
            if x in _PP:
                if syn and _PP[x] in _SYN:
                    rest[i] = _inflect(_SYN[_PP[x]], 1)
                break
            if x not in _ADVS:
                break
        return w[0], rest
    adv = []
    while w and w[0] in _ADVS and w[0] != "not":
        adv.append(w.pop(0))
    if not w or w[0] not in _PAST:
        return None
    base = _PAST[w[0]]
    return "did", adv + [(_SYN.get(base, base) if syn else base).replace("_", " ")] + w[1:]


def _main_base(words: list[str]) -> str | None:
    """Lemma of the main verb at the start of a predicate."""
    for i, x in enumerate(words[:4]):
        if x in _AUX or x in _ADVS or x == "been":
            continue
        return _PP.get(x) if i else _PAST.get(x)
    return None


def _q(*parts: str | list[str]) -> str:
    text = " ".join(" ".join(p) if isinstance(p, list) else p for p in parts if p)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    return text[:1].upper() + text[1:] + "?"


def _klass(ans: str) -> str | None:
    w = ans.split()
    if len(w) > 1 and (w[-1] in _CLASS or (w[0] in _CLASS and w[1] == "of")):
        return _CLASS.get(w[-1]) or _CLASS[w[0]]
    return None


Cand = tuple[list[tuple[str, str]], str, int]


def _drop(pred: str, a: int, b: int) -> list[str]:
    head = re.sub(r"(?:\b(?:early|late|mid|around|about) )?$", "", pred[:a])
    return (head + " " + pred[b:]).split()


def _rule_time(p: _Parse, rng: random.Random) -> list[Cand]:
    out: list[Cand] = []
    spots = [(m.group(1), p.pred_off + m.start(1), _drop(p.pred, m.start(), m.end()))
             for m in re.finditer(rf"\b(?:in|on) ({_DATE})\b(?! (?:and|or|to) \d| ?[-–] ?\d)",
                                  p.pred)]
    if p.fdate:
        spots.append((p.fdate[0], p.fdate[1], p.pred.split()))
    for ans, start, words in spots:
        syn = rng.random() < 0.5
        inv = _invert(words, syn)
        if not inv or len(inv[1]) > 10:
            continue
        aux, rest = inv
        vs = [(_q("When", aux, p.qsubj, rest), "when")]
        if re.fullmatch(r"\d{4}", ans):
            vs += [(_q("In what year", aux, p.qsubj, rest), "when")]
            if aux in ("was", "were") and len(rest) <= 3:
                vs.append((_q(p.qsubj, aux, rest, "in which year"), "when"))
        out.append((vs, ans, start))
    return out


def _rule_place(p: _Parse, rng: random.Random) -> list[Cand]:
    base = _main_base(p.pred.split())
    if base not in _PLACE_VERBS:
        return []
    out: list[Cand] = []
    for m in re.finditer(rf"\b(in|at|to) (?:the )?({_NAME})", p.pred):
        first = m.group(2).split()[0]
        if first in _NONPLACE or (m.group(1) == "to") != (base in _TO_VERBS):
            continue
        inv = _invert(_drop(p.pred, m.start(), m.end()), rng.random() < 0.5)
        if not inv or len(inv[1]) > 8:
            continue
        vs = [(_q("Where", inv[0], p.qsubj, inv[1]), "where")]
        if base == "bear" and not inv[1][1:]:
            vs.append((_q("What is the birthplace of", p.qsubj), "where"))
        if _klass(m.group(2)):
            vs.append((_q("Which", _klass(m.group(2)), inv[0], p.qsubj, inv[1], m.group(1)),
                       "which"))
        out.append((vs, m.group(2), p.pred_off + m.start(2)))
    return out


def _rule_agent(p: _Parse, rng: random.Random) -> list[Cand]:
    advs = "|".join(sorted(_ADVS - {"not", "never"}))
    m = re.match(rf"(is|was|are|were|has been|have been|had been)((?: (?:{advs}))*) ([a-z]+) by "
                 rf"(?:the )?({_NAME})", p.pred)
    if not m or m.group(3) not in _PP:
        return []
    base = _PP[m.group(3)]
    syn = _SYN.get(base, base) if rng.random() < 0.5 else base
    rest = p.pred[m.end():].split()
    rest = rest if len(rest) <= 5 and (not rest or rest[0] in ("in", "for", "on", "at")) else []
    vs = [(_q("Who", _inflect(base, 0), p.qsubj, rest), "who"),
          (_q("Who", _inflect(syn, 0), p.qsubj, rest), "who"),
          (_q(p.qsubj, m.group(1), m.group(3), "by whom"), "who")]
    if base in _AGENT and not rest:
        tense = "is" if m.group(1) in ("is", "are", "has been") else "was"
        vs.append((_q("Who", tense, "the", _AGENT[base], "of", p.qsubj), "who"))
    if _klass(m.group(4)):
        vs.append((_q("Which", _klass(m.group(4)), _inflect(base, 0), p.qsubj, rest), "which"))
    return [(vs, m.group(4), p.pred_off + m.start(4))]


def _rule_object(p: _Parse, rng: random.Random) -> list[Cand]:
    w = p.pred.split()
    i = 0
    while i < len(w) and w[i] in _ADVS and w[i] != "not":
        i += 1
    if i >= len(w) - 1 or _PAST.get(w[i]) not in _OBJ_VERBS:
        return []
    base, obj = _PAST[w[i]], []
    stops = _SUBJ_STOP | {"and", "but", "or", "of"} | _AUX
    for x in w[i + 1:]:
        if x.lower() in stops or re.search(r"\d|[^\w'’-]", x) or len(obj) == 5 or (
                len(obj) > 1 or obj[:1] not in ([], ["a"], ["an"], ["the"])) and (
                x.endswith("ing") or x.endswith("ed")):
            break
        obj.append(x)
    rest = w[i + 1 + len(obj):]
    if not obj or rest[:1] in (["and"], ["or"], ["of"]) or (obj[0] in ("a", "an", "the")
                                                            and len(obj) == 1):
        return []
    ans = " ".join(obj[1:] if obj[0] in ("a", "an", "the") else obj)
    if " " not in ans and ans.islower() or re.search(rf"\b{_WNUM}\b|^(?:{_MODW})\b", ans):
        return []
    if len(rest) > 4 or re.search(r"\d", " ".join(rest)) or rest[:1] not in (["in"], ["at"], []):
        rest = []
    start = p.pred_off + len(" ".join(w[: i + 1 + len(obj)])) - len(ans)
    extra = ["on" if " " in p.fdate[0] else "in", p.fdate[0]] if p.fdate and rng.random() < .5 \
        else []
    inv = _invert(w[:i + 1] + rest, rng.random() < 0.5)
    if not inv:
        return []
    named = all(x[0].isupper() for x in ans.split())
    wh, qt = ("Who", "who") if base in _PERSON_OBJ and (named or base in ("marry", "wed")) \
        else ("What", "what")
    vs = [(_q(wh, inv[0], p.qsubj, inv[1], extra), qt)]
    if _klass(ans):
        vs.append((_q("Which", _klass(ans), inv[0], p.qsubj, inv[1], extra), "which"))
    out: list[Cand] = [(vs, ans, start)]
    if not p.pron and re.fullmatch(rf"{_NAME}", p.subj) and len(p.subj.split()) <= 4 \
            and p.subj.split()[0] not in ("The", "A", "An") and base in _AGENT \
            and not {"his", "her", "its", "their"} & set(obj):
        vs2 = [(_q("Who", w[i], obj, rest), "who")]
        if not rest:
            vs2.append((_q("Who was the", _AGENT[base], "of", obj), "who"))
        out.append((vs2, p.subj, p.subj_off))
    return out


def _rule_count(p: _Parse, rng: random.Random) -> list[Cand]:
    m = re.match(rf"((?:\w+ ){{0,2}}?[a-z]+){_MOD} ({_NUM}) ({_PLURAL})\b", p.pred)
    if not m or m.group(3).endswith("ss") or m.group(3).split()[0] in _AUX or \
            m.group(1).split()[0] in _AUX - {"has", "have", "had"}:
        return []
    rest = p.pred[m.end():].split()
    inv = _invert(m.group(1).split() + (rest if len(rest) <= 4 else []), rng.random() < 0.5)
    if not inv or _main_base(m.group(1).split()) is None and inv[1][:1] != ["have"]:
        return []
    vs = [(_q("How many", m.group(3), inv[0], p.qsubj, inv[1]), "how many")]
    return [(vs, m.group(2), p.pred_off + m.start(2))]


def _rule_count_subj(sent: str, off: int) -> list[Cand]:
    m = re.match(rf"(?:(?:About|Approximately|Around|Over|More than|Nearly|Almost|Some|At least"
                 rf"|An estimated) )?({_NUM}) ({_PLURAL}) (were|are|have been|had been) ([^,;]+)",
                 sent)
    if not m or len(m.group(4).split()) > 10:
        return []
    vs = [(_q("How many", m.group(2), m.group(3), m.group(4).rstrip(" .!?")), "how many")]
    return [(vs, m.group(1), off + m.start(1))]


def _rule_money(p: _Parse, rng: random.Random) -> list[Cand]:
    m = re.match(rf"((?:\w+ ){{0,2}}?[a-z]+)(?: (for|by|at))?{_MOD} ({_MONEY}|{_PCT})", p.pred)
    if not m or _main_base(m.group(1).split()) is None or m.group(1).split()[-1] not in (
            set(_PAST) | set(_PP)):
        return []
    inv = _invert(m.group(1).split(), rng.random() < 0.5)
    if not inv:
        return []
    pre, post = ("By how much", "") if m.group(2) == "by" else ("How much", m.group(2) or "")
    vs = [(_q(pre, inv[0], p.qsubj, inv[1], post), "how much")]
    return [(vs, m.group(3), p.pred_off + m.start(3))]


def _rule_copula(p: _Parse, rng: random.Random) -> list[Cand]:
    s, pr, po = p.qsubj, p.pred, p.pred_off
    m = re.match(rf"(has|had) a population of{_MOD} ({_NUM})(?![\w,])"
                 rf"( (?:at|in) the {_YEAR} census| in {_YEAR})?", pr)
    if m:
        t, tail = ("is", "does") if m.group(1) == "has" else ("was", "did")
        vs = [(_q("What", t, "the population of", s, m.group(3) or ""), "what"),
              (_q("How many inhabitants", tail, s, "have", m.group(3) or ""), "how many")]
        return [(vs, m.group(2), po + m.start(2))]
    m = re.match(rf"(is|was|are|were) (?:also |commonly |often |sometimes |widely )?(?:known|"
                 rf"referred to|called) as (?:the )?\"?({_NAME})", pr)
    if m:
        vs = [(_q("What", m.group(1), s, "also known as"), "other"),
              (_q("By what name", m.group(1), s, "known"), "other")]
        return [(vs, m.group(2), po + m.start(2))]
    m = re.match(rf"(is|was|are|were) named (?:after|for) (?:the )?({_NAME})", pr)
    if m:
        vs = [(_q("Who", m.group(1), s, "named after"), "who"),
              (_q("After whom", m.group(1), s, "named"), "who")]
        return [(vs, m.group(2), po + m.start(2))]
    m = re.match(rf"(is|was) the ((?:second |third )?(?:[a-z]+est|most [a-z]+)) ([a-z]+) "
                 rf"((?:in|of|on) (?:the )?{_NAME})", pr)
    if m and not p.pron and re.fullmatch(_NAME, p.subj):
        sup = _WSYN.get(m.group(2), m.group(2)) if rng.random() < 0.6 else m.group(2)
        vs = [(_q("What", m.group(1), "the", m.group(2), m.group(3), m.group(4)), "what"),
              (_q("Which", m.group(3), m.group(1), "the", sup, m.group(4)), "which")]
        return [(vs, p.subj, p.subj_off)]
    return _rule_define(p)


def _rule_define(p: _Parse) -> list[Cand]:
    m = re.match(r"(is|was|are|were) (?:a|an) ", p.pred)
    if not m or not (p.pron or p.qsubj[0].isupper()):
        return []
    np_ = p.pred[m.end():]
    pm = re.match(rf"((?:[\w'’-]+ ){{0,4}}?({'|'.join(_PLACE_HEAD)})) (?:in|on) (?:the )?({_NAME})",
                  np_)
    if pm and pm.group(3).split()[0] not in _NONPLACE:
        vs = [(_q("Where", m.group(1), p.qsubj), "where"),
              (_q("Where", m.group(1), p.qsubj, "located"), "where")]
        return [(vs, pm.group(3), p.pred_off + m.end() + pm.start(3))]
    words = []
    for x in np_.split():
        if x.lower() in _SUBJ_STOP | {"and", "or", "but"} or (words and x.endswith("ed")):
            break
        words.append(x)
    while words and words[-1] in ("of", "the", "a", "an"):
        words.pop()
    if not 2 <= len(words) <= 7 or len(" ".join(words)) < len(np_) and \
            not re.match(r"(?:in|of|for|from|with|who|which|that|based|[a-z]+ed)\b",
                         np_[len(" ".join(words)):].strip()):
        return []
    ans = " ".join(words)
    wh = "Who" if p.person else "What"
    head = words[-1] if words[-1].isalpha() and words[-1].islower() and "of" not in words \
        and not words[-1].endswith("ing") else ""
    vs = [(_q(wh, m.group(1), p.qsubj), wh.lower())]
    if head:
        vs.append((_q("What kind of", head, m.group(1), p.qsubj), "what"))
    return [(vs, ans, p.pred_off + m.end())]


def _rule_why(sent: str, off: int, ent: tuple[str, str, bool] | None, ok: bool,
              vocab: set[str]) -> list[Cand]:
    m = re.match(r"(?:Because of|Due to|Because|As a result of) ([^,;]+), (.+)$", sent)
    if m:
        ps = _parse(m.group(2), off + m.start(2), ent, ok, vocab)
        reason, rstart = m.group(1), off + m.start(1)
    else:
        ps = _parse(sent, off, ent, ok, vocab)
        if not ps:
            return []
        p = ps[0]
        tail = sent[p.pred_off - off + len(p.pred):]
        r = re.match(r",? (?:because(?: of)?|due to|as a result of) ([^,;()]+)", tail)
        if not r:
            return []
        reason = r.group(1).rstrip(" .!?")
        rstart = p.pred_off + len(p.pred) + r.start(1)
    if not ps or not 1 <= len(reason.split()) <= 15:
        return []
    p = ps[0]
    inv = _invert(p.pred.split(), False)
    if not inv or len(inv[1]) > 10:
        return []
    return [([(_q("Why", inv[0], p.qsubj, inv[1]), "why")], reason.rstrip(" .!?"), rstart)]


def _rule_appos(sent: str, off: int) -> list[Cand]:
    out: list[Cand] = []
    for m in re.finditer(rf"(?:^|, )({_NAME}), (the (?:[a-z]+ ){{1,3}}(?:of|for|at) (?:the )?"
                         rf"{_NAME}),", sent):
        t = "is" if re.search(r"\b(?:says|is|has|are)\b", sent) else "was"
        out.append(([(_q("Who", t, m.group(2)), "who")], m.group(1), off + m.start(1)))
    for m in re.finditer(rf"(?:^|, )({_NAME}) \(born ({_DATE})[;,)]", sent):
        out.append(([(_q("When was", m.group(1), "born"), "when"),
                     (_q("In what year was", m.group(1), "born"), "when")], m.group(2),
                    off + m.start(2)))
    m = re.match(rf"((?:The|A|An) [\w-]+(?: [\w-]+){{0,2}}|{_NAME}), ([a-z]+) by ({_NAME}),", sent)
    if m and m.group(2) in _PP:
        base = _PP[m.group(2)]
        s = m.group(1)[0].lower() + m.group(1)[1:]
        out.append(([(_q("Who", _inflect(base, 0), s), "who"),
                     (_q("Who", _inflect(_SYN.get(base, base), 0), s), "who")],
                    m.group(3), off + m.start(3)))
    return out


def _valid(ctx: str, q: str, ans: str, start: int, qtype: str) -> bool:
    """Exact-span, uniqueness, whole-word and question well-formedness checks."""
    end = start + len(ans)
    if not ans or ctx[start:end] != ans or (ctx.count(ans) != 1 and qtype != "when"):
        return False
    inword = re.compile(r"[\w'’@-]")
    if (start and inword.match(ctx[start - 1])) or (end < len(ctx) and inword.match(ctx[end])):
        return False
    if (start > 1 and ctx[start - 1] in ".," and ctx[start - 2].isalnum()) or \
            (end + 1 < len(ctx) and ctx[end] in ".," and ctx[end + 1].isalnum()):
        return False
    if qtype != "when" and ans.split()[0] in _NONPLACE or re.match(
            r" (?:and|or|&) (?:[A-Z0-9$£]|(?:a|an|the|his|her|its|their) )", ctx[end:]):
        return False
    if q[:-1].split()[-1] in ("the", "a", "an", "of", "his", "her", "its", "their", "and"):
        return False
    if re.search(r"\b[A-Z]$", ans) and ctx[end:end + 1] == "." or re.search(
            r"\b(?:the|a|an|his|her|its|their) (?:in|by|on|at|of|for|to|with|as)\b", q):
        return False
    if qtype in ("when", "what", "why") and re.search(r" (?:in|on|at|to|of|for|with|by)\?$", q):
        return False
    limit = 15 if qtype == "why" else 8
    if not 1 <= len(ans.split()) <= limit or not _balanced(ans) or not re.match(r"[\w$£€]", ans) \
            or not re.search(r"[\w%]$", ans):
        return False
    return (q.endswith("?") and "?" not in q[:-1] and "!" not in q and q[0].isupper()
            and ans.lower() not in q.lower() and _balanced(q)
            and "\n" not in q and 3 <= len(q.split()) <= 25 and "  " not in q)


def _can_resolve(ent: tuple[str, str, bool] | None, prev: str, para_start: bool) -> bool:
    """Whether a leading pronoun of the current sentence safely refers to the document entity."""
    if ent is None:
        return False
    if para_start or prev.split(" ", 1)[0] in ("It", "He", "She", ent[0].split()[0]):
        return True
    names = re.findall(rf"(?<!^)(?<![.!?] )\b[A-Z][a-z]+ {_CAPW}", prev)
    return ent[1] != "thing" and not [n for n in names if not set(n.split()) & set(ent[0].split())]


def _candidates(ctx: str, ent: tuple[str, str, bool] | None, vocab: set[str],
                rng: random.Random) -> list[dict]:
    """All valid question candidates of one context, with their sentence index."""
    found, prev = [], ""
    rules = (_rule_time, _rule_place, _rule_agent, _rule_object, _rule_count, _rule_money,
             _rule_copula)
    for si, (s, e) in enumerate(x for m in re.finditer(r"[^\n]+", ctx)
                                for x in _sentences(m.group(), m.start())):
        sent = ctx[s:e]
        ok = _can_resolve(ent, prev, s == 0 or ctx[s - 1] == "\n")
        prev = sent
        cands = [c for p in _parse(sent, s, ent, ok, vocab) for r in rules for c in r(p, rng)]
        cands += _rule_why(sent, s, ent, ok, vocab) + _rule_appos(sent, s)
        cands += _rule_count_subj(sent, s)
        for vs, ans, start in cands:
            i = rng.randrange(1, len(vs)) if len(vs) > 1 and rng.random() < 0.6 else 0
            q, qt = vs[i]
            if rng.random() < 0.5:
                q = re.sub(r"\b[a-z]+\b", lambda w: _WSYN.get(w.group(), w.group()), q)
            if _valid(ctx, q, ans, start, qt):
                found.append({"question": q, "ans": ans, "start": start, "qtype": qt, "sent": si})
    return found


def _select(cands: list[dict], k: int, rng: random.Random) -> list[dict]:
    """Up to ``k`` candidates, at most two per sentence and one per answer, types interleaved."""
    groups: dict[str, list[dict]] = {}
    for c in cands:
        groups.setdefault(c["qtype"], []).append(c)
    order = sorted(groups)
    rng.shuffle(order)
    picked: list[dict] = []
    per_sent: dict[int, int] = {}
    seen: set[int] = set()
    while len(picked) < k and any(groups.values()):
        for qt in order:
            while groups[qt] and len(picked) < k:
                c = groups[qt].pop(0)
                if c["start"] not in seen and per_sent.get(c["sent"], 0) < 2:
                    seen.add(c["start"])
                    per_sent[c["sent"]] = per_sent.get(c["sent"], 0) + 1
                    picked.append(c)
                    break
    return sorted(picked, key=lambda c: c["start"])


def qa_items(doc_id: str, text: str, *, max_context: int = 1200, seed: int = 0,
             max_per_context: int = 6) -> list[dict]:
    """Items {"id", "context", "question", "answers": [{"text", "start"}], "qtype"} from a document.

    Args:
        doc_id: Stable document identifier (seeds the choices and prefixes item ids).
        text: The document; WikiText artefacts are cleaned with :func:`clean_wikitext`.
        max_context: Maximum context length in characters.
        seed: Base seed; output is deterministic for a given ``(doc_id, text, seed)``.
        max_per_context: Maximum number of questions kept per context.

    Returns:
        SQuAD-style items whose contexts are substrings of ``clean_wikitext(text)``.
    """
    clean = clean_wikitext(text)
    digest = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:12], 16)
    rng = random.Random(seed + digest)
    ent = _doc_entity(clean)
    vocab = set(re.findall(r"\b[a-z][a-z'-]*\b", clean))
    items = []
    for ci, (s, e) in enumerate(_chunks(clean, max_context)):
        ctx = clean[s:e]
        for c in _select(_candidates(ctx, ent, vocab, rng), max_per_context, rng):
            items.append({"id": f"{doc_id}-{ci}-{len(items)}", "context": ctx,
                          "question": c["question"], "qtype": c["qtype"],
                          "answers": [{"text": c["ans"], "start": c["start"]}]})
    return dedupe_items(items)


def dedupe_items(items: list[dict]) -> list[dict]:
    """Drop items whose (context, question) pair was already seen, keeping the first.

    Args:
        items: QA items as returned by :func:`qa_items`.

    Returns:
        The items in their original order without duplicates.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for it in items:
        key = (it["context"], it["question"])
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out
