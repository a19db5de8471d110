"""CDA grammar (pipeline.language.grammar) on sentences written for it, with known answers.

The tokens come from the real Frog 0.20 on this machine (saved JSON, converted by
``tests/frog_fixture.py`` as the TOKENS v2 contract says). Each expected value below is worked
out by hand from the sentence, not read off the output; where Frog's parse is wrong and the
finding follows it, the test says so.
"""

from __future__ import annotations

import pandas as pd
import pytest
from frog_fixture import frog_tokens

from pipeline.core.io import validate
from pipeline.core.schemas import CLAUSES, TOKENS
from pipeline.language.grammar import clauses, grammar_status, zijn_verb

# the fixture's turns, g-0001 ... in this order (tests/fixtures/grammar-frog-0.20.txt)
TURNS = {
    "g-0001": "Er wordt besloten dat de bibliotheek dichtgaat.",
    "g-0002": "Mensen worden uitgesloten.",
    "g-0003": "Zij worden door de gemeente uitgesloten.",
    "g-0004": "Hij is gekomen.",
    "g-0005": "De ring ligt op tafel en dat ding is kapot.",
    "g-0006": "De regering wil een verbetering van de bereikbaarheid.",
    "g-0007": "Wij moeten samen een oplossing vinden.",
    "g-0008": "Wij willen meedoen, maar zij luisteren niet naar ons.",
    "g-0009": "Men kan daar niets aan doen.",
    "g-0010": "Het besluit is genomen door de wethouder.",
    "g-0011": "Ze zegt dat ze het niet weet.",
    "g-0012": "Ik denk dat mensen uitgesloten worden.",
    "g-0013": "Het uitsluiten van mensen is een probleem, en de gesloten deur wordt groen.",
    "g-0014": "Er is veel veranderd door de digitalisering.",
    "g-0015": "Ik ben het vergeten, maar Jan heeft de brief geschreven.",
}


@pytest.fixture(scope="module")
def parsed():
    segments, tokens = frog_tokens()
    assert dict(zip(segments["segment_id"], segments["text"], strict=True)) == TURNS
    validate(tokens, TOKENS, where="fixture")  # the fixture obeys the contract
    table, status = clauses(tokens, language="nl")
    validate(table, CLAUSES, where="clauses")
    return table, status


@pytest.fixture(scope="module")
def tagged():
    """The same turns as a tagger without a parser leaves them (head and dep empty)."""
    _, tokens = frog_tokens(parser=False)
    return clauses(tokens, language="nl")


def rows(table: pd.DataFrame, feature: str) -> pd.DataFrame:
    return table[table["feature"] == feature]


def test_passives_by_hand(parsed):
    table, _ = parsed
    passives = rows(table, "passive").set_index("segment_id")
    # worden + participle: g-0001 (wordt besloten), g-0002 (worden uitgesloten), g-0003 (worden
    # ... uitgesloten), g-0012 (uitgesloten worden, participle first); zijn + participle of a
    # hebben-verb: g-0010 (is genomen: nemen has 'heeft genomen').
    # Not passives: g-0004 'is gekomen' (komen takes zijn), g-0013 'de gesloten deur wordt
    # groen' (gesloten before a noun; worden is a copula), g-0014 'is veranderd' (veranderen
    # may take zijn), g-0015 'ben vergeten' (vergeten may take zijn), 'heeft geschreven'.
    assert sorted(passives.index) == ["g-0001", "g-0002", "g-0003", "g-0010", "g-0012"]
    assert passives.loc["g-0010", "kind"] == "zijn"
    assert (passives.drop(index="g-0010")["kind"] == "worden").all()
    assert passives["verb"].to_dict() == {
        "g-0001": "besluiten",
        "g-0002": "uitsluiten",
        "g-0003": "uitsluiten",
        "g-0010": "nemen",
        "g-0012": "uitsluiten",
    }
    # agentless: no 'door' phrase in the clause. 'door de digitalisering' (g-0014) is in a
    # clause without a passive, so it is no agent of anything.
    assert sorted(passives.index[passives["agentless"]]) == ["g-0001", "g-0002", "g-0012"]
    assert passives.loc["g-0003", "agent"] == "de gemeente"
    assert passives.loc["g-0010", "agent"] == "de wethouder"
    # who is acted upon (parser): 'Mensen', 'Zij', 'besluit'; 'Er wordt besloten' has none
    assert passives.loc["g-0002", "subject_lemma"] == "mens"
    assert passives.loc["g-0003", "subject_lemma"] == "zij"
    assert passives.loc["g-0010", "subject_lemma"] == "besluit"
    assert pd.isna(passives.loc["g-0001", "subject"])


def test_nominalisations_by_hand(parsed):
    table, _ = parsed
    found = rows(table, "nominalisation")
    # verbetering, bereikbaarheid (g-0006), oplossing (g-0007), het uitsluiten (g-0013, a
    # nominal infinitive), digitalisering (g-0014). Not: ring, ding (stem r/d is under 3
    # letters), regering (an institution, listed), besluit, probleem (no suffix).
    assert sorted(zip(found["lemma"], found["kind"], strict=True)) == [
        ("bereikbaarheid", "-heid"),
        ("digitalisering", "-isering"),
        ("oplossing", "-ing"),
        ("uitsluiten", "infinitive"),
        ("verbetering", "-ing"),
    ]


def test_modals_with_subjects_by_hand(parsed):
    table, _ = parsed
    modals = rows(table, "modal").set_index("segment_id")
    # wil (g-0006, volition, main verb itself), moeten ... vinden (g-0007, obligation),
    # willen meedoen (g-0008, volition), kan ... doen (g-0009, possibility)
    assert modals["kind"].to_dict() == {
        "g-0006": "volition",
        "g-0007": "obligation",
        "g-0008": "volition",
        "g-0009": "possibility",
    }
    assert modals["verb"].to_dict() == {
        "g-0006": "willen",
        "g-0007": "vinden",
        "g-0008": "meedoen",
        "g-0009": "doen",
    }
    assert modals["subject_lemma"].to_dict() == {
        "g-0006": "regering",
        "g-0007": "wij",
        "g-0008": "wij",
        "g-0009": "men",
    }
    assert modals.loc["g-0007", "actor_kind"] == "pronoun"


def test_pronoun_perspective_by_hand(parsed):
    table, _ = parsed
    found = rows(table, "pronoun")
    got = sorted(zip(found["segment_id"], found["text"], found["kind"], strict=True))
    # Wij (g-0007); Wij, zij, ons (g-0008); Zij (g-0003, plural: 'worden'); Men; Ik twice.
    # 'Ze zegt dat ze' (g-0011) is 'she' (Frog: singular), so it is not 'them'.
    assert got == [
        ("g-0003", "Zij", "them"),
        ("g-0007", "Wij", "us"),
        ("g-0008", "Wij", "us"),
        ("g-0008", "ons", "us"),
        ("g-0008", "zij", "them"),
        ("g-0009", "Men", "men"),
        ("g-0012", "Ik", "self"),
        ("g-0015", "Ik", "self"),
    ]


def test_actors_agents_and_patients(parsed):
    table, _ = parsed
    actors = rows(table, "actor")
    role = {(r.segment_id, r.text): (r.kind, r.relation) for r in actors.itertuples()}
    # passive subjects are patients, the door phrase is the agent
    assert role[("g-0002", "Mensen")] == ("patient", "subject")
    assert role[("g-0003", "Zij")] == ("patient", "subject")
    assert role[("g-0003", "gemeente")] == ("agent", "door")
    assert role[("g-0010", "wethouder")] == ("agent", "door")
    # subjects of active verbs act; an object is acted upon
    assert role[("g-0007", "Wij")] == ("agent", "subject")
    assert role[("g-0007", "oplossing")] == ("patient", "object")
    assert role[("g-0015", "Jan")] == ("agent", "subject")
    assert role[("g-0015", "brief")] == ("patient", "object")
    # 'Hij is gekomen' is active: Hij is the agent, not a patient
    assert role[("g-0004", "Hij")] == ("agent", "subject")
    # 'dat ding is kapot': a copula's subject is described, not acting
    assert role[("g-0005", "ding")] == ("copula", "subject")
    kinds = actors.set_index(["segment_id", "text"])["actor_kind"]
    assert kinds[("g-0015", "Jan")] == "name"
    assert kinds[("g-0007", "Wij")] == "pronoun"
    assert kinds[("g-0009", "niets")] == "other"
    assert (actors["parsed"]).all()


def test_without_a_parser_only_tag_findings_and_no_guessing(parsed, tagged):
    table, _ = parsed
    plain, status = tagged
    assert status.tagger and not status.parser
    assert set(status.unavailable) == {"subject", "actor"}
    assert "actor" not in set(plain["feature"])
    assert plain["subject"].isna().all() and not plain["parsed"].any()
    # every tag-based finding is the same with or without the parse
    key = ["segment_id", "feature", "kind", "token_index", "verb", "agent", "agentless"]
    with_parse = table[table["feature"] != "actor"][key].reset_index(drop=True)
    assert with_parse.equals(plain[key].reset_index(drop=True))


def test_no_tagger_or_other_language_gives_nothing():
    _, tokens = frog_tokens()
    blank = tokens.assign(pos=None, tag=None, morph=None, head=None, dep=None)
    table, status = clauses(blank, language="nl")
    assert table.empty and not status.tagger and "passive" in status.unavailable
    table, status = clauses(tokens, language="en")
    assert table.empty and not status.rules
    assert "no grammar rules for language 'en'" in status.unavailable["modal"]
    assert grammar_status(tokens, language="nl").available[0] == "passive"


def test_zijn_verbs_include_particle_compounds():
    assert zijn_verb("komen") and zijn_verb("meekomen") and zijn_verb("opgroeien")
    assert not zijn_verb("nemen") and not zijn_verb("besluiten") and not zijn_verb("sluiten")


def test_tokens_v1_files_upgrade_with_empty_tagger_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.core.io import read_table

    v1 = pa.table(
        {
            "segment_id": ["s-0001"],
            "token_index": pa.array([0], pa.int64()),
            "sentence_index": pa.array([0], pa.int64()),
            "text": ["Wij"],
            "lemma": ["wij"],
            "pos": pa.array([None], pa.string()),
            "is_stop": [True],
            "is_punct": [False],
            "is_alpha": [True],
            "start_char": pa.array([0], pa.int64()),
        }
    ).replace_schema_metadata({b"cda.schema": b"tokens.v1"})
    pq.write_table(v1, tmp_path / "tokens.parquet")
    tokens = read_table(tmp_path / "tokens.parquet", TOKENS)
    assert list(tokens.columns) == TOKENS.names and tokens.loc[0, "lemma"] == "wij"
    for column in ("tag", "morph", "ent_iob", "ent_type", "head", "dep"):
        assert tokens[column].isna().all(), column
    assert clauses(tokens, language="nl")[0].empty  # no tagger: nothing is guessed


MODAL_PATTERNS = (
    "version: 1\nlanguage: nl\ncategories:\n  modality:\n    markers:\n"
    "      - id: moeten-aux\n        patterns: [[{lemma: moeten, pos: AUX}]]\n"
    "      - id: kunnen\n        terms: [kunnen]\n"
    "        patterns: [[{lemma: kunnen, pos: AUX}, {pos: VERB}]]\n"
)


def test_marker_patterns_on_pos_and_lemma_match_tagged_docs_and_are_left_out_untagged():
    from pathlib import Path

    from spacy.tokens import Doc

    from pipeline.core import yamlfile
    from pipeline.language.markers import MarkerSet, marker_table, unmatchable
    from pipeline.language.parse import load_pipeline

    nlp = load_pipeline("no-such-model", "nl")[0]
    data, lines = yamlfile.load_text(MODAL_PATTERNS)
    spec = yamlfile.parse(MarkerSet, Path("m.yaml"), data, lines)
    # the Frog fixture's g-0007 "Wij moeten samen een oplossing vinden." and g-0009 "Men kan
    # daar niets aan doen." as tagged docs (as a tagger backend would hand them to spaCy)
    _, tokens = frog_tokens()
    docs, ids = [], ["g-0007", "g-0009"]
    for sid in ids:
        part = tokens[tokens["segment_id"] == sid]
        docs.append(
            Doc(nlp.vocab, words=part["text"].tolist(), lemmas=part["lemma"].tolist(),
                pos=part["pos"].tolist(), sent_starts=[True] + [False] * (len(part) - 1))
        )  # fmt: skip
    found = marker_table(ids, docs, spec, nlp)
    # moeten (AUX) in g-0007; 'kan' + a VERB right after it: none ('kan daar'), but the term
    # 'kunnen' matches its lemma in g-0009
    assert list(zip(found["segment_id"], found["marker"], found["text"], strict=True)) == [
        ("g-0007", "moeten-aux", "moeten"),
        ("g-0009", "kunnen", "kan"),
    ]
    assert unmatchable(spec, docs) == {}
    # untagged (the blank pipeline): POS patterns are left out and listed, terms still match
    # (the lookup lemmatiser leaves 'kan' as it is, so this text has the infinitive)
    plain = list(nlp.pipe(["Wij moeten samen een oplossing vinden.", "Zij kunnen niets."]))
    assert unmatchable(spec, plain) == {"modality/moeten-aux": ["POS"], "modality/kunnen": ["POS"]}
    found = marker_table(ids, plain, spec, nlp)
    assert found["marker"].tolist() == ["kunnen"]


def test_nlp_stage_writes_clauses_and_says_what_the_grammar_lacks(tmp_path):
    """The sample through the real nlp stage with the blank pipeline (no tagger here):
    clauses.parquet is written, empty, and nlp.json says why, never a guess."""
    import json

    from helpers import sample_through_nlp

    from pipeline.core.io import read_table

    ws = sample_through_nlp(tmp_path / "ws")
    found = read_table(ws.clauses, CLAUSES)
    meta = json.loads((ws.interim / "nlp.json").read_text())
    tokens = read_table(ws.tokens, TOKENS)
    if tokens["pos"].notna().any():  # a trained pipeline is installed: findings exist
        assert not found.empty and meta["grammar"]["tagger"]
    else:
        assert found.empty
        assert meta["grammar"]["tagger"] is False and meta["grammar"]["available"] == []
        assert "no part-of-speech tagger ran" in meta["grammar"]["unavailable"]["passive"]


def test_a_preposition_or_conjunction_the_parser_calls_a_subject_is_none():
    # "omdat we konden" with Frog's real mistake on the debate: 'omdat' labelled su (nsubj)
    # of 'konden'; and 'volgens' likewise. Only 'we' is a subject.
    rows = [
        ("omdat", "omdat", "SCONJ", "VG(onder)", None, 2, "nsubj"),
        ("we", "we", "PRON", "VNW(pers,pron,nomin,red,1,mv)", "Number=Plur|Person=1|PronType=Prs",
         2, "nsubj"),
        ("konden", "kunnen", "AUX", "WW(pv,verl,mv)", "Tense=Past|VerbForm=Fin", 2, "ROOT"),
        ("volgens", "volgens", "ADP", "VZ(init)", "AdpType=Prep", 2, "nsubj"),
        ("mij", "mij", "PRON", "VNW(pr,pron,obl,vol,1,ev)", "Number=Sing|Person=1|PronType=Prs",
         3, "obj"),
    ]  # fmt: skip
    tokens = pd.DataFrame(
        [
            {"segment_id": "s-1", "token_index": i, "sentence_index": 0, "text": w,
             "lemma": lemma, "pos": pos, "tag": tag, "morph": morph, "head": head, "dep": dep,
             "ent_iob": "O", "ent_type": "", "is_stop": False, "is_punct": False,
             "is_alpha": True, "start_char": 0}
            for i, (w, lemma, pos, tag, morph, head, dep) in enumerate(rows)
        ]
    )  # fmt: skip
    found, _ = clauses(validate(tokens, TOKENS, where="t"), language="nl")
    subject_rows = found[(found["feature"] == "actor") & (found["relation"] == "subject")]
    assert subject_rows["text"].tolist() == ["we"]
    assert found.loc[found["feature"] == "modal", "subject"].tolist() == ["we"]
