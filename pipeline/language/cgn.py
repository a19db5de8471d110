"""Frog's Dutch tags and relations in Universal Dependencies terms.

Frog tags with the CGN tag set (``WW(pv,tgw,ev)``) and parses with Alpino-style relations
(``su``, ``obj1``, ``vc``); the rest of the pipeline speaks UD (UPOS, FEATS, UD relation names),
so the tokens table means the same whichever backend wrote it. Only the labels are mapped:
Frog's tree keeps its Alpino shape (the finite verb heads the clause, an auxiliary heads its
verbal complement ``vc``, a preposition heads its object), which grammar code must know.
"""

from __future__ import annotations

import re

# Verbs that UD Dutch tags AUX when they carry a verbal complement (or, for zijn/worden, as
# copula too); without a parse the complement is guessed from the sentence (see ``aux_or_verb``).
COPULAS = frozenset({"zijn", "worden"})
AUXILIARIES = frozenset(
    {"hebben", "zullen", "kunnen", "moeten", "mogen", "willen", "hoeven", "blijken", "lijken"}
)
# Hesitations: Frog tags "eh" as a noun (N(soort,ev,...)), spoken language needs INTJ.
FILLERS = frozenset({"eh", "ehm", "uh", "uhm", "um", "hm", "hmm", "mm", "euh", "ah", "oh", "hè"})

_PRONTYPE = {
    "pers": "Prs",
    "pr": "Prs",
    "refl": "Prs",
    "recip": "Rcp",
    "bez": "Prs",
    "vb": "Int",
    "betr": "Rel",
    "aanw": "Dem",
    "onbep": "Ind",
    "excl": "Exc",
}
_PERSON = {
    "1": "1",
    "2": "2",
    "2v": "2",
    "2b": "2",
    "3": "3",
    "3p": "3",
    "3m": "3",
    "3o": "3",
    "3v": "3",
}
_TAG = re.compile(r"([A-Z]+)\((.*)\)")


def cgn_to_ud(tag: str, *, lemma: str = "", word: str = "") -> tuple[str, dict[str, str]]:
    """UPOS and UD features of a CGN tag: ``'WW(vd,vrij,zonder)'`` -> ``('VERB', {VerbForm:
    Part, Tense: Past})``. AUX here is a lemma guess (zijn, worden, modals, hebben); refine it
    with :func:`aux_or_verb` once the sentence (or its parse) is known."""
    if word.lower() in FILLERS:
        return "INTJ", {}
    match = _TAG.fullmatch(tag)
    if not match:
        return "X", {}
    main, feats = match.group(1), {f for f in match.group(2).split(",") if f}
    f: dict[str, str] = {}
    if "ev" in feats:
        f["Number"] = "Sing"
    if "mv" in feats:
        f["Number"] = "Plur"
    if main == "N":
        if "zijd" in feats:
            f["Gender"] = "Com"
        if "onz" in feats:
            f["Gender"] = "Neut"
        if "dim" in feats:
            f["Degree"] = "Dim"
        if "gen" in feats:
            f["Case"] = "Gen"
        return ("PROPN" if "eigen" in feats else "NOUN"), f
    if main == "ADJ":
        f["Degree"] = "Cmp" if "comp" in feats else "Sup" if "sup" in feats else "Pos"
        return "ADJ", f
    if main == "WW":
        return _verb(feats, f, lemma)
    if main == "VNW":
        return _pronoun(feats, f)
    if main == "LID":
        return "DET", {**f, "Definite": "Def" if "bep" in feats else "Ind", "PronType": "Art"}
    if main == "VZ":
        return "ADP", {"AdpType": "Post" if "fin" in feats else "Prep"}
    if main == "VG":
        return ("SCONJ" if "onder" in feats else "CCONJ"), {}
    if main == "BW":
        return "ADV", {}
    if main == "TW":
        if "rang" in feats:
            return "ADJ", {"NumType": "Ord"}
        return "NUM", {"NumType": "Card"}
    if main == "TSW":
        return "INTJ", {}
    if main == "LET":
        return "PUNCT", {}
    if main == "SPEC":
        return _spec(feats)
    return "X", {}


def _verb(feats: set[str], f: dict[str, str], lemma: str) -> tuple[str, dict[str, str]]:
    if "pv" in feats:
        f.update(VerbForm="Fin", Mood="Sub" if "conj" in feats else "Ind")
        if "tgw" in feats:
            f["Tense"] = "Pres"
        if "verl" in feats:
            f["Tense"] = "Past"
    elif "inf" in feats:
        f["VerbForm"] = "Inf"
    elif "vd" in feats:
        f.update(VerbForm="Part", Tense="Past")
    elif "od" in feats:
        f.update(VerbForm="Part", Tense="Pres")
    return ("AUX" if lemma in COPULAS | AUXILIARIES else "VERB"), f


def _pronoun(feats: set[str], f: dict[str, str]) -> tuple[str, dict[str, str]]:
    sub = next((x for x in _PRONTYPE if x in feats), None)
    if sub:
        f["PronType"] = _PRONTYPE[sub]
    if sub == "refl":
        f["Reflex"] = "Yes"
    if sub == "bez":
        f["Poss"] = "Yes"
    person = next((_PERSON[x] for x in sorted(feats) if x in _PERSON), None)
    if person:
        f["Person"] = person
    if "nomin" in feats:
        f["Case"] = "Nom"
    if "obl" in feats:
        f["Case"] = "Acc"
    if "adv-pron" in feats:
        return "ADV", f  # er, daar, hier, waar (UD Dutch)
    if "prenom" in feats:
        return "DET", f  # deze, die, hun, veel before a noun
    if "grad" in feats:
        return "ADV", f  # veel, meer, minder on their own: "niet meer", "ik werk veel"
    return "PRON", f


def _spec(feats: set[str]) -> tuple[str, dict[str, str]]:
    if "deeleigen" in feats:
        return "PROPN", {}
    if "symb" in feats:
        return "SYM", {}
    if "vreemd" in feats:
        return "X", {"Foreign": "Yes"}
    if "afk" in feats:
        return "X", {"Abbr": "Yes"}
    if "enof" in feats:
        return "CCONJ", {}
    return "X", {}  # afgebr(oken), onverst(aanbaar), meta, comment


def aux_or_verb(lemma: str, *, has_verbal_complement: bool) -> str:
    """UD Dutch: zijn and worden are AUX (auxiliary or copula); hebben, the modals and
    blijken/lijken only with a verbal complement ("ik heb een tablet" is VERB)."""
    if lemma in COPULAS:
        return "AUX"
    if lemma in AUXILIARIES and has_verbal_complement:
        return "AUX"
    return "VERB"


def complement_form(lemma: str) -> str:
    """The verb form that makes ``lemma`` an auxiliary when no parse says so: a participle
    for hebben ("heb gedaan"), an infinitive for the modals ("moet doen")."""
    return "Part" if lemma == "hebben" else "Inf"


def feats_string(feats: dict[str, str]) -> str:
    """UD FEATS: ``Number=Sing|Person=3``, features sorted by name as UD requires."""
    return "|".join(f"{k}={feats[k]}" for k in sorted(feats))


# Alpino relation -> UD relation, where the relation does not depend on the words.
_RELATIONS = {
    "obj1": "obj",
    "obj2": "iobj",
    "det": "det",
    "cnj": "conj",
    "crd": "cc",
    "punct": "punct",
    "predc": "xcomp",
    "pc": "obl",
    "ld": "obl",
    "me": "obl",
    "obcomp": "obl",
    "predm": "obl",
    "pobj1": "expl",
    "sup": "expl",
    "se": "expl:pv",
    "svp": "compound:prt",
    "app": "appos",
    "hdf": "case",
    "cmp": "mark",
    "body": "ccomp",
    "dp": "parataxis",
    "tag": "parataxis",
    "mwp": "flat",
    "fixed": "fixed",
}


def alpino_to_ud(
    role: str | None, *, upos: str, head_upos: str, passive: bool = False, finite: bool = False
) -> str:
    """The UD label for one Alpino relation (``role`` of a dependent of POS ``upos`` whose head
    has POS ``head_upos``). ``passive``: the dependent is the subject of a worden-passive;
    ``finite``: a ``vc`` dependent is a finite clause (ccomp) rather than an infinitive or
    participle (xcomp). Roles Frog leaves unlabelled ("None") and unknown ones become ``dep``."""
    if role in (None, "", "None"):
        return "dep"
    if role in ("ROOT", "root", "hd"):
        return "ROOT"
    if role == "su":
        return "nsubj:pass" if passive else "nsubj"
    if role == "vc":
        return "ccomp" if finite or upos == "SCONJ" else "xcomp"
    if role == "mod":
        return _modifier(upos, head_upos)
    if role == "det" and upos == "NUM":
        return "nummod"
    return _RELATIONS.get(role, "dep")


def _modifier(upos: str, head_upos: str) -> str:
    nominal_head = head_upos in ("NOUN", "PROPN", "PRON", "NUM")
    if upos in ("ADV", "PART", "INTJ", "DET"):
        return "advmod"
    if upos == "ADJ":
        return "amod" if nominal_head else "advmod"
    if upos == "NUM":
        return "nummod"
    if upos in ("ADP", "NOUN", "PROPN", "PRON", "X", "SYM"):
        return "nmod" if nominal_head else "obl"
    if upos == "SCONJ":
        return "advcl"
    if upos in ("VERB", "AUX"):
        return "acl" if nominal_head else "advcl"
    return "dep"
