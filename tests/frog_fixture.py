"""Tokens tables (``tokens.v2``) from Frog's saved JSON output, for grammar tests.

``tests/fixtures/grammar-frog-0.20.json`` is what the real ``frog 0.20`` (Debian, frogdata
0.18) wrote for ``grammar-frog-0.20.txt`` (one turn per paragraph) with
``frog -t grammar-frog-0.20.txt --JSONout -o grammar-frog-0.20.json --threads=2`` (parser on).
This converter mirrors the TOKENS v2 contract (CGN tag -> UD UPOS + FEATS, Alpino-style roles
-> UD labels, heads as token_index within the turn, a root pointing at itself) so that the
grammar tests need neither Frog nor the real converter; the lead's integration test runs the
real one. ``parser=False`` drops head and dep, as a run with ``--skip=p`` would leave them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from pipeline.core.schemas import TOKENS

FIXTURE = Path(__file__).parent / "fixtures" / "grammar-frog-0.20.json"

AUX_LEMMAS = {"zijn", "hebben", "worden", "zullen", "kunnen", "moeten", "mogen", "willen",
              "hoeven", "blijken", "lijken", "schijnen", "plegen", "dunken"}  # fmt: skip
FILLERS = {"eh", "ehm", "uh", "uhm", "hm", "hmm", "euh"}
PRONTYPE = {"pers": "Prs", "pr": "Prs", "refl": "Prs", "recip": "Rcp", "bez": "Prs",
            "vb": "Int", "betr": "Rel", "aanw": "Dem", "onbep": "Ind", "excl": "Exc"}  # fmt: skip
PERSON = {"1": "1", "2": "2", "2v": "2", "2b": "2", "3": "3", "3p": "3", "3m": "3", "3o": "3",
          "3v": "3"}  # fmt: skip


def read_frog_json(text: str) -> list[list[dict]]:
    """Frog's --JSONout: one JSON array per sentence, one after another."""
    decoder, at, out = json.JSONDecoder(), 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return out
        sentence, at = decoder.raw_decode(text, at)
        out.append(sentence)


def cgn_to_ud(tag: str, lemma: str, word: str) -> tuple[str, dict[str, str]]:
    """CGN tag -> (UPOS, FEATS), as in /work/probe18 (cgn2ud.py)."""
    m = re.fullmatch(r"([A-Z]+)\((.*)\)", tag)
    if not m:
        return "X", {}
    main, feats = m.group(1), {f for f in m.group(2).split(",") if f}
    f: dict[str, str] = {}
    if "ev" in feats:
        f["Number"] = "Sing"
    if "mv" in feats:
        f["Number"] = "Plur"
    if word.lower() in FILLERS:
        return "INTJ", {}
    if main == "N":
        return ("PROPN" if "eigen" in feats else "NOUN"), f
    if main == "ADJ":
        return "ADJ", f
    if main == "WW":
        if "pv" in feats:
            f.update(VerbForm="Fin", Mood="Sub" if "conj" in feats else "Ind")
            f["Tense"] = "Past" if "verl" in feats else "Pres"
        elif "inf" in feats:
            f["VerbForm"] = "Inf"
        elif "vd" in feats:
            f.update(VerbForm="Part", Tense="Past")
        elif "od" in feats:
            f.update(VerbForm="Part", Tense="Pres")
        return ("AUX" if lemma in AUX_LEMMAS else "VERB"), f
    if main == "VNW":
        sub = next((x for x in PRONTYPE if x in feats), None)
        if sub:
            f["PronType"] = PRONTYPE[sub]
        person = next((PERSON[x] for x in feats if x in PERSON), None)
        if person:
            f["Person"] = person
        if "adv-pron" in feats:
            return "ADV", f
        if "prenom" in feats:
            return "DET", f
        return "PRON", f
    if main == "LID":
        return "DET", {"PronType": "Art"}
    if main == "VZ":
        return "ADP", {"AdpType": "Post" if "fin" in feats else "Prep"}
    if main == "VG":
        return ("SCONJ" if "onder" in feats else "CCONJ"), {}
    simple = {"BW": "ADV", "TW": "NUM", "TSW": "INTJ", "LET": "PUNCT"}
    if main in simple:
        return simple[main], {}
    if main == "SPEC" and "deeleigen" in feats:
        return "PROPN", {}
    return "X", {}


def ud_label(role: str, tok: dict, sentence: list[dict]) -> str:
    """An Alpino-style role as a UD label (the contract's mapping)."""
    if role in ("ROOT", "hd"):
        return "ROOT"
    if role == "su":
        head = next((t for t in sentence if t["index"] == tok["head"]), None)
        passive = (
            head is not None
            and head["lemma"] == "worden"
            and any(
                t["head"] == head["index"] and t["deprel"] == "vc" and "vd" in t["tag"]
                for t in sentence
            )
        )
        return "nsubj:pass" if passive else "nsubj"
    if role == "mod":
        return {"ADV": "advmod", "ADJ": "amod"}.get(tok["upos"], "obl")
    if role == "vc":
        return "ccomp" if tok["upos"] in ("SCONJ", "VERB") and "pv" in tok["tag"] else "xcomp"
    table = {"obj1": "obj", "obj2": "iobj", "det": "det", "cnj": "conj", "crd": "cc",
             "punct": "punct", "predc": "xcomp", "body": "ccomp", "fixed": "fixed"}  # fmt: skip
    return table.get(role, "dep")


def split_mwu(sentence: list[dict]) -> list[dict]:
    """Glued multi-word units (parser on) as separate tokens: part 1 keeps head and role."""
    out, new_index = [], {}
    for t in sentence:
        tags = re.split(r"(?<=\))_", t["pos"]["tag"])
        words = t["word"].split("_") if len(tags) > 1 else [t["word"]]
        lemmas = t["lemma"].split("_") if len(tags) > 1 else [t["lemma"]]
        if len(words) != len(tags):
            words, tags, lemmas = [t["word"]], [tags[0]], [t["lemma"]]
        if len(lemmas) != len(tags):
            lemmas = words
        ner = t.get("ner", {}).get("tag", "O").split("_")
        new_index[t["index"]] = len(out) + 1
        for k, (word, tag, lemma) in enumerate(zip(words, tags, lemmas, strict=True)):
            parse = t.get("parse", {})
            out.append(
                {
                    "src": t["index"],
                    "part": k,
                    "word": word,
                    "lemma": lemma,
                    "tag": tag,
                    "ner": ner[min(k, len(ner) - 1)],
                    "space": t.get("ucto", {}).get("space", True) if k == len(tags) - 1 else True,
                    "new_paragraph": bool(t.get("ucto", {}).get("new_paragraph")) and k == 0,
                    "raw_head": parse.get("parse_index"),
                    "raw_role": parse.get("parse_role"),
                }
            )
    for i, tok in enumerate(out, start=1):
        tok["index"] = i
        if tok["part"]:
            tok["head"], tok["deprel"] = new_index[tok["src"]], "fixed"
        else:
            raw = tok["raw_head"]
            tok["head"] = new_index.get(raw, 0) if raw else 0
            tok["deprel"] = tok["raw_role"]
    return out


def frog_tokens(path: Path = FIXTURE, *, parser: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments, tokens) of the fixture: one segment per paragraph, ids g-0001 ..."""
    segments, rows = [], []
    turn, text, index, s_index = -1, "", 0, 0
    for sentence in read_frog_json(path.read_text(encoding="utf-8")):
        toks = split_mwu(sentence)
        if toks and toks[0]["new_paragraph"]:
            if turn >= 0:
                segments.append(text.rstrip())
            turn, text, index, s_index = turn + 1, "", 0, 0
        base = index
        for tok in toks:
            tok["upos"], feats = cgn_to_ud(tok["tag"], tok["lemma"], tok["word"])
            tok["morph"] = "|".join(f"{k}={v}" for k, v in sorted(feats.items())) or None
        for tok in toks:
            ner = tok["ner"]
            head = tok["head"]
            rows.append(
                {
                    "segment_id": f"g-{turn + 1:04d}",
                    "token_index": index,
                    "sentence_index": s_index,
                    "text": tok["word"],
                    "lemma": tok["lemma"].lower(),
                    "tag": tok["tag"],
                    "pos": tok["upos"],
                    "morph": tok["morph"],
                    "ent_iob": ner[0],
                    "ent_type": ner[2:] if ner != "O" else "",
                    "head": (base + (head - 1 if head else tok["index"] - 1)) if parser else None,
                    "dep": ud_label(tok["deprel"] or "None", tok, toks) if parser else None,
                    "is_stop": False,
                    "is_punct": tok["upos"] == "PUNCT",
                    "is_alpha": tok["word"].isalpha(),
                    "start_char": len(text),
                }
            )
            text += tok["word"] + (" " if tok["space"] else "")
            index += 1
        s_index += 1
    segments.append(text.rstrip())
    segs = pd.DataFrame(
        {
            "segment_id": [f"g-{i + 1:04d}" for i in range(len(segments))],
            "text": segments,
        }
    )
    return segs, pd.DataFrame(rows, columns=TOKENS.names)
