"""The question writer's lexicon: question types, the patterns of dates, numbers, money and
names, word lists (auxiliaries, adverbs, stop words, places), synonyms for paraphrases and the
verb forms (irregular and regular) used to invert sentences into questions.
"""

from __future__ import annotations

import re

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
