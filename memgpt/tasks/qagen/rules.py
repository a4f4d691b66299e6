"""The question rules: each turns a parsed sentence into candidate (question, answer, offset)
items of one type (time, place, agent, object, count, money, copula, definition, why,
apposition).
"""

from __future__ import annotations

import random
import re

from memgpt.tasks.qagen.lexicon import (
    _ADVS,
    _AGENT,
    _AUX,
    _DATE,
    _MOD,
    _MODW,
    _MONEY,
    _NAME,
    _NONPLACE,
    _NUM,
    _OBJ_VERBS,
    _PAST,
    _PCT,
    _PERSON_OBJ,
    _PLACE_HEAD,
    _PLACE_VERBS,
    _PLURAL,
    _PP,
    _SUBJ_STOP,
    _SYN,
    _TO_VERBS,
    _WNUM,
    _WSYN,
    _YEAR,
)
from memgpt.tasks.qagen.parse import Cand, _inflect, _invert, _klass, _main_base, _Parse, _parse, _q


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
