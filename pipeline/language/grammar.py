"""The grammar CDA reads, from the tokens table: who acts, who is acted upon, what is
obliged, nominalised, or said from whose perspective (Dutch rules), as
``data/interim/clauses.parquet``.

Everything here reads only the tokens contract (``tokens.v2``: ``pos``, ``tag``, ``morph``,
``head``, ``dep``), never a tagger's own output, so any backend that fills the contract
(Frog, a trained spaCy pipeline) gives the same findings for the same analysis. One row is
one finding (:data:`pipeline.core.schemas.CLAUSES`). What a finding needs decides whether it is
given (:func:`grammar_status`), and nothing is guessed:

- **no tagger** (``pos`` empty: the blank/simplemma floor): no findings at all; the ingroup
  and outgroup *markers* still count pronouns by word;
- **a tagger, no parser** (``dep`` empty): the findings that tags and word order decide
  soundly: passives and their ``door`` agent, nominalisations, modal verbs by kind and the
  verb they go with, pronoun perspective. Subjects and actors (``subject``, ``actor`` rows)
  need a parse and are left out; ``parsed`` is false on every row;
- **a parser**: subjects of passives and modals too, and ``actor`` rows (agent or patient).

**Clauses** are cut from a sentence by its tags, not its parse (Frog's parse is shallow: many
sentences have several roots): a clause starts at a subordinating conjunction, a coordinating
conjunction or a relative pronoun, and ends after , ; : or a bracket; a piece without any verb
(``Mensen en dieren worden ...`` cut at "en") joins the next piece (the last one joins the
one before). Known misses: a clause interrupted by an inserted one (``Er wordt, denk ik,
besloten``) is cut in two, and a relative clause inside a subject joins its main clause.

**Passives**, one per clause at most:

- ``worden`` (any form, as AUX or VERB) with a past participle (``VerbForm=Part|Tense=Past``)
  in the same clause, in either order (``wordt besloten``, ``uitgesloten worden``);
- ``zijn`` with a past participle of a verb that does not take ``zijn`` in its own perfect:
  ``is genomen`` (nemen: *heeft genomen*) is a passive, ``is gekomen`` (komen: *is gekomen*)
  is the active perfect. The verbs taking ``zijn`` are a closed list (:data:`ZIJN_VERBS`, with
  their particle compounds: ``meegekomen``), as are participles used as adjectives (``ik ben
  gewend``, :data:`ADJECTIVAL`); a verb with both perfects (``veranderen``, ``vergeten``)
  is in the list, so it is never taken for a passive. What is not caught: a zijn-passive of
  a verb the list has (``het is vergeten`` meaning *it was forgotten*), and a stative
  ``is gesloten`` (the shop is closed) is counted as a passive;
- participles before a noun (``de gesloten deur``) or used as nouns (``de gedupeerden``) are
  not verbs: a tag that says ``prenom`` or ``nom`` is skipped.

A passive has an **agent** when its clause has the preposition ``door`` (``AdpType=Prep``,
not the particle of ``doorgaan``): the phrase up to its first noun, name or pronoun
(``door de gemeente``); otherwise it is **agentless**.

**Nominalisations** are nouns (``pos`` NOUN) whose lemma ends in -ing, -heid or -atie with a
stem of at least :data:`MIN_STEM` letters before the suffix (so *ring*, *ding*, *heid* are
not), minus :data:`NOT_NOMINAL` (lexicalised words that name a thing or an institution:
*koning*, *woning*, *regering*, *overheid*, *organisatie*, *situatie* ..., also as the head of
a compound: *kinderopvanginstelling*) and -cratie (*democratie*), plus nominal
infinitives (``het uitsluiten van``: a verb tagged ``nom``, which is how CGN and spaCy's Dutch
tags mark them). Not counted: -ment and -age (mostly loans that name things: *moment*,
*document*, *garage*), -tie without -a- (*politie*, *positie*), and lexicalised -ing/-heid
words the list lacks (counted although they name things).

**Modal verbs** (lemma, as AUX or VERB): moeten and hoeven = obligation, kunnen =
possibility (ability and possibility are not told apart), mogen = permission, willen =
volition, zullen = future (prediction, intention, and ``zou`` as hypothesis or hearsay),
apart from the deontic four. ``verb`` is the clause's main verb (the last non-auxiliary verb,
else the modal itself: ``de regering wil een verbetering``).

**Pronoun perspective** (PRON or DET): us = wij, we, ons, onze; self = ik, mij, me, mijn,
m'n; them = hun, hen, and zij/ze only when the tagger says plural (``zij``/``ze`` is also
*she*); you = je, jij, jou, jouw, u, uw, jullie (generic and addressed *you* are not told
apart); men = men.

**Actors** (parser only): the subject (``nsubj``, ``nsubj:pass``) of a clause is an agent in an
active clause, a patient in a passive one, and neither (``copula``) in a clause whose only
verbs are copulas (``dat ding is kapot``); a direct object (``obj`` whose head is a verb) is a
patient; a ``door`` phrase of a passive is an agent. ``actor_kind`` says whether the actor is
person-like: a personal pronoun, a name (PROPN, or a PER/ORG entity), a noun, or other
(``het``, ``dat``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.core.schemas import CLAUSES

GRAMMAR_LANGUAGES = ("nl",)

MODALS = {
    "moeten": "obligation",
    "hoeven": "obligation",
    "kunnen": "possibility",
    "mogen": "permission",
    "willen": "volition",
    "zullen": "future",
}

PRONOUNS = {
    "us": {"wij", "we", "ons", "onze"},
    "self": {"ik", "mij", "me", "mijn", "m'n"},
    "them": {"hun", "hen"},
    "you": {"je", "jij", "jou", "jouw", "u", "uw", "jullie"},
    "men": {"men"},
}
THEY_OR_SHE = {"zij", "ze"}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# them only when the tagger says plural

# verbs whose perfect takes 'zijn' (or either auxiliary): their participle after 'zijn' is
# read as the active perfect, never as a passive. Particle compounds (meekomen, opgroeien)
# count through BASES_WITH_PARTICLES.
ZIJN_VERBS = _words(
    """zijn worden blijven komen gaan vallen sterven overlijden groeien stijgen dalen
    verdwijnen ontstaan verschijnen beginnen ophouden stoppen vertrekken gebeuren lukken
    mislukken slagen zakken veranderen verhuizen trouwen scheiden vergeten verliezen rijden
    lopen fietsen vliegen zwemmen varen reizen wandelen rennen springen klimmen keren
    terugkeren treden stappen vluchten ontsnappen ontkomen verdrinken verongelukken
    schrikken opstaan toenemen afnemen bevallen belanden raken geraken ontwaken inslapen
    uitkomen voorkomen meevallen tegenvallen afstuderen opgroeien baren vergaan"""
)
BASES_WITH_PARTICLES = (
    "komen", "gaan", "vallen", "blijven", "groeien", "stijgen", "dalen", "lopen", "rijden",
    "vliegen", "keren", "treden", "stappen", "sterven", "varen", "reizen", "springen",
    "klimmen", "vluchten", "zakken", "raken", "studeren",
)  # fmt: skip
# participles read as adjectives after 'zijn' (states of mind, civil states)
ADJECTIVAL = _words(
    """gewend geïnteresseerd geinteresseerd verbaasd benieuwd betrokken bekend verliefd
    verplicht overtuigd gemotiveerd teleurgesteld opgelucht getrouwd gescheiden geboren
    verbonden gespannen verward vermoeid verslaafd bedoeld gewenst gebaseerd gericht
    gelegen"""
)
COPULAS = frozenset({"zijn", "worden", "blijven", "lijken", "blijken", "schijnen"})

NOMINAL_SUFFIXES = ("isering", "ing", "heid", "atie")
MIN_STEM = 3
NOT_NOMINAL = _words(
    """koning honing haring woning regering vereniging stichting
    afdeling instelling omgeving richting leerling tweeling vreemdeling nieuweling zuigeling
    jongeling lieveling overheid minderheid meerderheid mensheid christenheid gelegenheid
    hoeveelheid eenheid organisatie situatie relatie"""
)

# a listed word is not one as the head of a compound either (kinderopvanginstelling); -cratie
# names a system (democratie, bureaucratie), not a process
NOT_NOMINAL_ENDINGS = (*sorted(NOT_NOMINAL), "cratie")

CLAUSE_END = frozenset({",", ";", ":", "(", ")", "–", "—"})
ACTOR_KINDS = ("pronoun", "name", "noun", "other")


@dataclass(frozen=True)
class GrammarStatus:
    """What the grammar could be read from: recorded in nlp.json and shown in the report."""

    language: str
    rules: bool  # grammar rules exist for the language
    tagger: bool  # pos filled
    parser: bool  # dep filled
    available: tuple[str, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "language": self.language,
            "rules": self.rules,
            "tagger": self.tagger,
            "parser": self.parser,
            "available": list(self.available),
            "unavailable": dict(self.unavailable),
        }


TAG_FEATURES = ("passive", "nominalisation", "modal", "pronoun")
PARSE_FEATURES = ("subject", "actor")


def grammar_status(tokens: pd.DataFrame, *, language: str) -> GrammarStatus:
    """Which findings the tokens allow: tag-based ones need ``pos``, subjects and actors
    ``dep`` too, and all of them Dutch rules."""
    lang = language.strip().lower()
    tagger = bool(tokens["pos"].notna().any()) if "pos" in tokens else False
    parser = bool(tokens["dep"].notna().any()) if "dep" in tokens else False
    rules = lang in GRAMMAR_LANGUAGES
    missing: dict[str, str] = {}
    if not rules:
        reason = f"no grammar rules for language '{lang}' (only {', '.join(GRAMMAR_LANGUAGES)})"
        missing = dict.fromkeys(TAG_FEATURES + PARSE_FEATURES, reason)
    elif not tagger:
        reason = "no part-of-speech tagger ran (install Frog or a trained spaCy pipeline)"
        missing = dict.fromkeys(TAG_FEATURES + PARSE_FEATURES, reason)
    elif not parser:
        missing = dict.fromkeys(PARSE_FEATURES, "no dependency parser ran")
    available = tuple(f for f in TAG_FEATURES + PARSE_FEATURES if f not in missing)
    return GrammarStatus(lang, rules, tagger, parser, available, missing)


# tokens --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    """One token of the tokens table, with its features parsed."""

    index: int
    text: str
    lemma: str
    pos: str
    tag: str
    feats: dict[str, str]
    head: int | None
    dep: str
    ent: str = ""

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_verb(self) -> bool:
        return self.pos in ("VERB", "AUX")

    @property
    def tag_parts(self) -> set[str]:
        return set(re.split(r"[^\w-]+", self.tag.lower())) - {""}

    @property
    def past_participle(self) -> bool:
        """A verbal past participle: not one before a noun or used as a noun."""
        return (
            self.is_verb
            and self.feats.get("VerbForm") == "Part"
            and self.feats.get("Tense", "Past") == "Past"
            and not self.tag_parts & {"prenom", "nom"}
        )


def _feats(morph: object) -> dict[str, str]:
    if not isinstance(morph, str) or not morph:
        return {}
    return dict(part.split("=", 1) for part in morph.split("|") if "=" in part)


def _texts(column: pd.Series) -> list[str]:
    """The column's values as text: a string as is, anything else (missing, a number) "".
    Converted in one go: iterating Arrow-backed
    strings one by one cost seconds on a few hundred thousand tokens."""
    return [v if isinstance(v, str) else "" for v in column.to_numpy(dtype=object, na_value=None)]


def _sentences(tokens: pd.DataFrame):
    """(segment_id, sentence_index, [Tok]) in text order: sentences in the order they first
    appear when the tokens are sorted by segment and token index, each sentence's tokens in
    that order (the groups of ``groupby(["segment_id", "sentence_index"], sort=False)``).

    Each column is turned into Python values once and the sentences are cut from the sorted
    rows, instead of a pandas group and an ``itertuples`` per sentence: that took a minute on
    5,000 debate turns. Every Tok is the one a row-by-row reading gives.
    """
    ordered = tokens.sort_values(["segment_id", "token_index"], kind="stable")
    keys = ordered[["segment_id", "sentence_index"]]
    known = keys.notna().all(axis=1).to_numpy()  # a group key that is missing: no group
    ordered, keys = ordered[known], keys[known]
    codes = keys.groupby(["segment_id", "sentence_index"], sort=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")  # group by group, sorted rows within each
    ordered, keys, codes = ordered.iloc[order], keys.iloc[order], codes[order]
    text, lemma, morph = _texts(ordered["text"]), _texts(ordered["lemma"]), _texts(ordered["morph"])
    morphs = {value: _feats(value) for value in set(morph)}  # each analysis parsed once
    columns = zip(
        ordered["token_index"].tolist(),
        text,
        [lem.lower() or txt.lower() for lem, txt in zip(lemma, text, strict=True)],
        _texts(ordered["pos"]),
        _texts(ordered["tag"]),
        morph,
        ordered["head"].to_numpy(dtype=object, na_value=None).tolist(),
        _texts(ordered["dep"]),
        _texts(ordered["ent_type"]),
        strict=True,
    )
    rows = list(columns)
    sids = keys["segment_id"].to_numpy(dtype=object)
    s_indices = keys["sentence_index"].to_numpy(dtype=object)
    bounds = (np.flatnonzero(np.diff(codes)) + 1).tolist()
    for start, end in zip([0, *bounds], [*bounds, len(codes)], strict=True):
        if start == end:
            continue
        toks = [
            Tok(
                index=int(index),
                text=txt,
                lemma=lem,
                pos=pos,
                tag=tag,
                feats=dict(morphs[morph]),  # a dict of its own, as each row's parse gives
                head=None if head is None else int(head),
                dep=dep,
                ent=ent,
            )
            for index, txt, lem, pos, tag, morph, head, dep, ent in rows[start:end]
        ]
        yield sids[start], int(s_indices[start]), toks


def clause_spans(sentence: list[Tok]) -> list[list[Tok]]:
    """The sentence cut into clauses by tags (see the module docstring)."""
    pieces: list[list[Tok]] = [[]]
    for tok in sentence:
        starts = tok.pos in ("SCONJ", "CCONJ") or (
            tok.pos == "PRON" and tok.feats.get("PronType") == "Rel"
        )
        if starts and pieces[-1]:
            pieces.append([])
        pieces[-1].append(tok)
        if tok.pos == "PUNCT" and tok.text in CLAUSE_END:
            pieces.append([])
    pieces = [p for p in pieces if p]
    merged: list[list[Tok]] = []
    carry: list[Tok] = []
    for piece in pieces:
        piece = carry + piece
        if any(t.is_verb for t in piece):
            merged.append(piece)
            carry = []
        else:
            carry = piece
    if carry:
        if merged:
            merged[-1].extend(carry)
        else:
            merged.append(carry)
    return merged


# findings ------------------------------------------------------------------------------------


def zijn_verb(lemma: str) -> bool:
    """Whether ``lemma`` takes 'zijn' in its perfect (or may): its participle after 'zijn'
    is then an active perfect, not a passive."""
    lemma = lemma.replace("_", "")
    if lemma in ZIJN_VERBS:
        return True
    return any(lemma.endswith(base) and len(lemma) > len(base) for base in BASES_WITH_PARTICLES)


def main_verb(clause: list[Tok]) -> Tok | None:
    """The clause's main verb: the last verb that is not an auxiliary, else the last verb."""
    verbs = [t for t in clause if t.is_verb and not t.tag_parts & {"prenom", "nom"}]
    lexical = [t for t in verbs if t.pos == "VERB"]
    return (lexical or verbs or [None])[-1]


@dataclass(frozen=True)
class Passive:
    aux: str  # worden | zijn
    participle: Tok
    agent: list[Tok] | None  # the door phrase, without 'door'
    agent_head: Tok | None


def passive(clause: list[Tok]) -> Passive | None:
    """The clause's passive, if any (see the module docstring for the rule)."""
    participles = [t for t in clause if t.past_participle and t.lemma != "worden"]
    if not participles:
        return None
    auxes = {t.lemma for t in clause if t.is_verb and not t.past_participle}
    if "worden" in auxes:
        part, aux = participles[-1], "worden"
    else:
        eligible = [t for t in participles if not zijn_verb(t.lemma) and t.lower not in ADJECTIVAL]
        if "zijn" not in auxes or "hebben" in auxes or not eligible:
            return None
        part, aux = eligible[-1], "zijn"
    phrase, head = door_phrase(clause)
    return Passive(aux, part, phrase, head)


def door_phrase(clause: list[Tok]) -> tuple[list[Tok] | None, Tok | None]:
    """The words after the preposition 'door' up to its first noun, name or pronoun."""
    for at, tok in enumerate(clause):
        if tok.lemma == "door" and tok.pos == "ADP" and tok.feats.get("AdpType") != "Post":
            phrase: list[Tok] = []
            for nxt in clause[at + 1 :]:
                if nxt.pos in ("PUNCT", "ADP", "VERB", "AUX", "SCONJ", "CCONJ"):
                    break
                phrase.append(nxt)
                if nxt.pos in ("NOUN", "PROPN", "PRON"):
                    return phrase, nxt
            return (phrase or None), None
    return None, None


def nominal_suffix(tok: Tok) -> str | None:
    """The suffix that makes ``tok`` a nominalisation, or None (rule in the module docstring)."""
    if tok.is_verb and tok.feats.get("VerbForm") == "Inf" and "nom" in tok.tag_parts:
        return "infinitive"
    if tok.pos != "NOUN":
        return None
    lemma = tok.lemma.replace("_", "")
    if not lemma.isalpha() or lemma.endswith(NOT_NOMINAL_ENDINGS):
        return None
    for suffix in NOMINAL_SUFFIXES:
        if lemma.endswith(suffix) and len(lemma) - len(suffix) >= MIN_STEM:
            return "-" + suffix
    return None


def perspective(tok: Tok) -> str | None:
    """us, self, them, you or men, or None."""
    if tok.pos not in ("PRON", "DET"):
        return None
    word = tok.lower
    for kind, words in PRONOUNS.items():
        if word in words:
            return kind
    if word in THEY_OR_SHE and tok.feats.get("Number") == "Plur":
        return "them"
    return None


def actor_kind(tok: Tok) -> str:
    """pronoun, name, noun or other: whether the actor is person-like."""
    if tok.pos == "PRON" and tok.feats.get("PronType") == "Prs" and tok.lower != "het":
        return "pronoun"
    if tok.pos == "PROPN" or tok.ent in ("PER", "ORG"):
        return "name"
    if tok.pos == "NOUN":
        return "noun"
    return "other"


# what can head a subject: Frog's parser also labels prepositions and conjunctions 'su'
# ("volgens", "omdat"), which are never one
NOMINAL = frozenset({"NOUN", "PROPN", "PRON", "NUM", "ADJ", "X", "SYM", "VERB"})


def subjects(clause: list[Tok]) -> list[Tok]:
    """Subjects in the clause (parser only): nsubj and nsubj:pass tokens that can head a
    noun phrase (a verb only as a nominal infinitive: *het uitsluiten*)."""
    return [
        t
        for t in clause
        if t.dep.split(":")[0] == "nsubj"
        and t.pos in NOMINAL
        and (t.pos != "VERB" or "nom" in t.tag_parts)
    ]


def _row(sid: str, s_index: int, c_index: int, feature: str, kind: str, tok: Tok, **kw) -> dict:
    return {
        "segment_id": sid,
        "sentence_index": s_index,
        "clause_index": c_index,
        "feature": feature,
        "kind": kind,
        "token_index": tok.index,
        "text": tok.text,
        "lemma": tok.lemma,
        **kw,
    }


def clause_findings(
    sid: str, s_index: int, c_index: int, clause: list[Tok], *, parsed: bool
) -> list[dict]:
    """Every finding of one clause as CLAUSES rows."""
    rows: list[dict] = []
    verb = main_verb(clause)
    verb_lemma = verb.lemma if verb is not None else None
    subs = subjects(clause) if parsed else []
    first = subs[0] if subs else None
    subject = (
        {
            "subject": first.text,
            "subject_lemma": first.lemma,
            "actor_kind": actor_kind(first),
        }
        if first is not None
        else {}
    )
    found = passive(clause)
    if found is not None:
        rows.append(
            _row(
                sid, s_index, c_index, "passive", found.aux, found.participle,
                verb=found.participle.lemma,
                agent=" ".join(t.text for t in found.agent) if found.agent else None,
                agentless=found.agent is None,
                **subject,
            )
        )  # fmt: skip
    for tok in clause:
        if tok.is_verb and tok.lemma in MODALS:
            rows.append(
                _row(sid, s_index, c_index, "modal", MODALS[tok.lemma], tok, verb=verb_lemma,
                     **subject)
            )  # fmt: skip
        suffix = nominal_suffix(tok)
        if suffix is not None:
            rows.append(_row(sid, s_index, c_index, "nominalisation", suffix, tok))
        view = perspective(tok)
        if view is not None:
            rows.append(_row(sid, s_index, c_index, "pronoun", view, tok))
    if not parsed:
        return rows
    copular = verb is not None and verb.pos != "VERB" and verb.lemma in COPULAS
    by_index = {t.index: t for t in clause}
    for tok in subs:
        role = "patient" if found is not None else "copula" if copular else "agent"
        rows.append(
            _row(sid, s_index, c_index, "actor", role, tok, verb=verb_lemma, relation="subject",
                 actor_kind=actor_kind(tok))
        )  # fmt: skip
    for tok in clause:
        head = by_index.get(tok.head) if tok.head is not None else None
        if tok.dep == "obj" and head is not None and head.is_verb:
            rows.append(
                _row(sid, s_index, c_index, "actor", "patient", tok, verb=verb_lemma,
                     relation="object", actor_kind=actor_kind(tok))
            )  # fmt: skip
    if found is not None and found.agent_head is not None:
        tok = found.agent_head
        if tok.index not in {r["token_index"] for r in rows if r["feature"] == "actor"}:
            rows.append(
                _row(sid, s_index, c_index, "actor", "agent", tok, verb=found.participle.lemma,
                     relation="door", actor_kind=actor_kind(tok))
            )  # fmt: skip
    return rows


def clauses(tokens: pd.DataFrame, *, language: str) -> tuple[pd.DataFrame, GrammarStatus]:
    """The grammar findings of a tokens table (CLAUSES rows) and what they could be read from.

    Nothing is guessed: without a tagger (or Dutch rules) the table is empty, without a
    parser it has no ``actor`` rows and no subjects, and ``parsed`` says so on every row.
    """
    status = grammar_status(tokens, language=language)
    if not status.rules or not status.tagger:
        return CLAUSES.empty(), status
    rows: list[dict] = []
    for sid, s_index, sentence in _sentences(tokens):
        for c_index, clause in enumerate(clause_spans(sentence)):
            rows.extend(clause_findings(sid, s_index, c_index, clause, parsed=status.parser))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return CLAUSES.empty(), status
    for column in CLAUSES.names:
        if column not in frame:
            frame[column] = None
    frame["parsed"] = status.parser
    return frame[CLAUSES.names], status
