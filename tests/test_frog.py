"""Language backends: Frog (the real binary, one shared run), simplemma, a trained spaCy
pipeline, their selection and provenance, and accuracy floors on hand-annotated Dutch gold.

Frog costs ~10 CPU-s to start, so every test that reads Frog's docs shares one run
(``frog_run``, parser on); the stage test runs Frog once more with the parser off.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import spacy

from benchmarks.gold import read_gold, score
from pipeline.core.config import NlpConfig
from pipeline.core.errors import CdaError
from pipeline.core.schemas import SEGMENTS, TOKENS
from pipeline.language import frog
from pipeline.language.cgn import alpino_to_ud, aux_or_verb, cgn_to_ud, feats_string
from pipeline.language.parse import (
    ENV_BACKEND,
    fingerprint,
    load_backend,
    load_blank,
    load_lookup,
)

FROG = frog.find_frog()
if FROG is None and os.environ.get("CDA_REQUIRE_FROG"):  # CI installs Frog: no silent skip
    raise RuntimeError("CDA_REQUIRE_FROG is set but frog is not on PATH (apt-get install frog)")
needs_frog = pytest.mark.skipif(FROG is None, reason="frog not on PATH (apt-get install frog)")

# Floors: measured on tests/fixtures/gold_nl_tokens.tsv (282 tokens) minus 0.02; see
# benchmarks/nlp.py (`make bench-nlp`) for the figures themselves.
FLOORS = {
    "simplemma": {"lemma": 0.965 - 0.02},
    "frog+parser": {"lemma": 0.989 - 0.02, "upos": 0.954 - 0.02},
    "frog": {"lemma": 0.989 - 0.02, "upos": 0.957 - 0.02},
}

MAPPING = [
    "Ik weet het niet",  # no final punctuation
    "",  # empty turns are not sent to Frog and must not shift the turns after them
    "Nee",
    "   ",
    "eh",  # a turn of only a hesitation
    'Hij zei: "dat kost 10.000 euro," en ging weg.',
    "Zoals [PERSON_1] zei, in [PLAATS].",
    "Eerste zin.\n\nTweede  zin",  # a blank line inside a turn is no turn break
    "Ik bedoel dan wel dat het niet kan.",  # Frog glues dan_wel when parsing
    "De brieven worden door de dienst verstuurd.",
]


@pytest.fixture(scope="module")
def frog_run() -> dict[str, spacy.tokens.Doc]:
    """One Frog process (parser on) over the mapping cases and the gold segments."""
    if FROG is None:
        pytest.skip("frog not on PATH (apt-get install frog)")
    texts = MAPPING + list(read_gold())
    vocab = spacy.blank("nl").vocab
    docs = list(frog.frog_docs(texts, vocab, frog.FrogSettings(FROG, parser=True)))
    return dict(zip(texts, docs, strict=True))


# CGN -> UD, by hand ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "lemma", "word", "upos", "feats"),
    [
        ("WW(pv,tgw,met-t)", "worden", "wordt", "AUX", "Mood=Ind|Tense=Pres|VerbForm=Fin"),
        ("WW(vd,vrij,zonder)", "delen", "gedeeld", "VERB", "Tense=Past|VerbForm=Part"),
        ("WW(pv,verl,ev)", "zeggen", "zei", "VERB", "Mood=Ind|Number=Sing|Tense=Past|VerbForm=Fin"),
        ("WW(inf,vrij,zonder)", "kunnen", "kunnen", "AUX", "VerbForm=Inf"),
        ("N(soort,mv,basis)", "brief", "brieven", "NOUN", "Number=Plur"),
        (
            "N(soort,ev,dim,onz,stan)",
            "band",
            "bandje",
            "NOUN",
            "Degree=Dim|Gender=Neut|Number=Sing",
        ),
        ("N(eigen,ev,basis,zijd,stan)", "Alkaya", "Alkaya", "PROPN", "Gender=Com|Number=Sing"),
        # Frog tags the hesitation as a noun; spoken language needs INTJ
        ("N(soort,ev,basis,zijd,stan)", "eh", "eh", "INTJ", ""),
        (
            "VNW(pers,pron,nomin,vol,1,mv)",
            "wij",
            "wij",
            "PRON",
            "Case=Nom|Number=Plur|Person=1|PronType=Prs",
        ),
        (
            "VNW(bez,det,stan,vol,1,mv,prenom,zonder,evon)",
            "ons",
            "ons",
            "DET",
            "Number=Plur|Person=1|Poss=Yes|PronType=Prs",
        ),
        (
            "VNW(refl,pron,obl,red,3,getal)",
            "zich",
            "zich",
            "PRON",
            "Case=Acc|Person=3|PronType=Prs|Reflex=Yes",
        ),
        ("VNW(aanw,adv-pron,stan,red,3,getal)", "er", "Er", "ADV", "Person=3|PronType=Dem"),
        ("VNW(onbep,grad,stan,vrij,zonder,comp)", "veel", "meer", "ADV", "PronType=Ind"),
        ("LID(bep,stan,rest)", "de", "de", "DET", "Definite=Def|PronType=Art"),
        ("VZ(fin)", "aan", "aan", "ADP", "AdpType=Post"),
        ("VG(onder)", "dat", "dat", "SCONJ", ""),
        ("VG(neven)", "en", "en", "CCONJ", ""),
        ("TW(hoofd,prenom,stan)", "10.000", "10.000", "NUM", "NumType=Card"),
        ("TW(rang,prenom,stan)", "eerst", "eerste", "ADJ", "NumType=Ord"),
        ("ADJ(prenom,comp,met-e,stan)", "goed", "betere", "ADJ", "Degree=Cmp"),
        ("SPEC(deeleigen)", "Snels", "Snels", "PROPN", ""),
        ("SPEC(vreemd)", "maidenspeech", "maidenspeech", "X", "Foreign=Yes"),
        ("TSW()", "ja", "ja", "INTJ", ""),
        ("LET()", ",", ",", "PUNCT", ""),
        ("BW()", "niet", "niet", "ADV", ""),
        ("not a tag", "x", "x", "X", ""),
    ],
)
def test_cgn_tags_map_to_ud_by_hand(tag, lemma, word, upos, feats) -> None:
    got_upos, got_feats = cgn_to_ud(tag, lemma=lemma, word=word)
    assert (got_upos, feats_string(got_feats)) == (upos, feats)


def test_auxiliaries_and_relations_by_hand() -> None:
    assert aux_or_verb("hebben", has_verbal_complement=False) == "VERB"  # "ik heb een tablet"
    assert aux_or_verb("hebben", has_verbal_complement=True) == "AUX"  # "ik heb het gedaan"
    assert aux_or_verb("zijn", has_verbal_complement=False) == "AUX"  # copula
    assert aux_or_verb("denken", has_verbal_complement=True) == "VERB"
    assert alpino_to_ud("su", upos="NOUN", head_upos="AUX", passive=True) == "nsubj:pass"
    assert alpino_to_ud("su", upos="PRON", head_upos="VERB") == "nsubj"
    assert alpino_to_ud("obj1", upos="NOUN", head_upos="VERB") == "obj"
    assert alpino_to_ud("obj2", upos="PRON", head_upos="VERB") == "iobj"
    assert alpino_to_ud("vc", upos="VERB", head_upos="AUX") == "xcomp"
    assert alpino_to_ud("vc", upos="SCONJ", head_upos="VERB") == "ccomp"
    assert alpino_to_ud("mod", upos="ADV", head_upos="VERB") == "advmod"
    assert alpino_to_ud("mod", upos="ADJ", head_upos="NOUN") == "amod"
    assert alpino_to_ud("mod", upos="ADP", head_upos="VERB") == "obl"
    assert alpino_to_ud("mod", upos="ADP", head_upos="NOUN") == "nmod"
    assert alpino_to_ud("det", upos="NUM", head_upos="NOUN") == "nummod"
    assert alpino_to_ud("svp", upos="ADP", head_upos="VERB") == "compound:prt"
    assert alpino_to_ud("None", upos="NOUN", head_upos="VERB") == "dep"
    assert alpino_to_ud("ROOT", upos="VERB", head_upos="") == "ROOT"


def test_glued_multiword_units_are_split_back_into_the_words() -> None:
    sentence = [  # the shape of Frog's --JSONout with the parser on
        {"index": 1, "word": "Ik", "lemma": "ik", "pos": {"tag": "VNW(pers,pron,nomin,vol,1,ev)"},
         "parse": {"parse_index": 2, "parse_role": "su"}, "ucto": {"new_paragraph": True}},
        {"index": 2, "word": "bedoel", "lemma": "bedoelen", "pos": {"tag": "WW(pv,tgw,ev)"},
         "parse": {"parse_index": 0, "parse_role": "ROOT"}},
        {"index": 3, "word": "dan_wel", "lemma": "dan_wel", "pos": {"tag": "BW()_BW()"},
         "ner": {"tag": "O"}, "parse": {"parse_index": 2, "parse_role": "mod"}},
        {"index": 4, "word": "Van_Raan", "lemma": "Van_Raan", "ner": {"tag": "B-PER_I-PER"},
         "pos": {"tag": "SPEC(deeleigen)_SPEC(deeleigen)"},
         "parse": {"parse_index": 2, "parse_role": "obj1"}},
    ]  # fmt: skip
    tokens = frog.split_mwu(sentence)
    assert [t["word"] for t in tokens] == ["Ik", "bedoel", "dan", "wel", "Van", "Raan"]
    assert [t["lemma"] for t in tokens] == ["ik", "bedoelen", "dan", "wel", "Van", "Raan"]
    # 0-based heads: part 1 keeps the unit's head, later parts hang on part 1 as fixed
    assert [t["head"] for t in tokens] == [1, None, 1, 2, 1, 4]
    assert [t["role"] for t in tokens] == ["su", "ROOT", "mod", "fixed", "obj1", "fixed"]
    assert [t["ner"] for t in tokens] == ["O", "O", "O", "O", "B-PER", "I-PER"]
    assert tokens[0]["new_paragraph"] and not tokens[2]["new_paragraph"]


def test_frog_json_is_read_sentence_by_sentence() -> None:
    text = '[{"index": 1}]\n[{"index": 1}, {"index": 2}]\n\n'
    assert frog.read_frog_json(text) == [[{"index": 1}], [{"index": 1}, {"index": 2}]]


# the real Frog ---------------------------------------------------------------------------------


def _words(doc) -> list[str]:
    return [t.text for t in doc if not t.is_space]


def test_every_turn_keeps_its_text_and_offsets(frog_run) -> None:
    for text, doc in frog_run.items():
        assert doc.text == text  # nothing changed, nothing lost
        for tok in doc:
            assert text[tok.idx : tok.idx + len(tok.text)] == tok.text
        if not _words(doc):  # an empty turn: nothing to parse
            assert all(t.is_space and not t.dep_ for t in doc)
            continue
        for sent in doc.sents:  # one root per sentence, heads inside it
            roots = [t for t in sent if t.dep_ == "ROOT"]
            assert len(roots) == 1 and roots[0].head == roots[0]
            assert all(sent.start <= t.head.i < sent.end for t in sent)


def test_turns_map_back_to_their_own_tokens(frog_run) -> None:
    assert _words(frog_run["Ik weet het niet"]) == ["Ik", "weet", "het", "niet"]
    assert _words(frog_run[""]) == [] and _words(frog_run["   "]) == []
    assert _words(frog_run["Nee"]) == ["Nee"]
    only_eh = frog_run["eh"]
    assert [(t.text, t.pos_, t.tag_) for t in only_eh] == [("eh", "INTJ", "TSW()")]
    quoted = frog_run['Hij zei: "dat kost 10.000 euro," en ging weg.']
    expected = [
        "Hij", "zei", ":", '"', "dat", "kost", "10.000", "euro", ",", '"', "en", "ging", "weg", ".",
    ]  # fmt: skip
    assert _words(quoted) == expected
    number = quoted[6]
    assert (number.pos_, number.lemma_, number.idx) == (
        "NUM",
        "10.000",
        19,
    )  # 'Hij zei: "dat kost '

    two = frog_run["Eerste zin.\n\nTweede  zin"]
    assert [s.text.strip() for s in two.sents] == ["Eerste zin.", "Tweede  zin"]
    assert _words(two) == ["Eerste", "zin", ".", "Tweede", "zin"]


def test_placeholders_stay_one_proper_noun_token(frog_run) -> None:
    doc = frog_run["Zoals [PERSON_1] zei, in [PLAATS]."]
    assert _words(doc) == ["Zoals", "[PERSON_1]", "zei", ",", "in", "[PLAATS]", "."]
    for tok in (doc[1], doc[5]):
        assert (tok.pos_, tok.tag_, tok.lemma_) == ("PROPN", "SPEC(deeleigen)", tok.text.lower())
    assert doc[1].idx == 6 and doc[5].idx == 25


def test_parser_output_is_split_and_mapped_to_ud(frog_run) -> None:
    mwu = frog_run["Ik bedoel dan wel dat het niet kan."]
    assert _words(mwu)[2:4] == ["dan", "wel"]  # glued dan_wel, split back
    assert mwu[3].dep_ == "fixed" and mwu[3].head.i == 2
    passive = frog_run["De brieven worden door de dienst verstuurd."]
    by_word = {t.text: t for t in passive}
    assert by_word["brieven"].dep_ == "nsubj:pass" and by_word["brieven"].head.text == "worden"
    assert by_word["door"].dep_ == "obl:agent"
    assert by_word["worden"].pos_ == "AUX" and by_word["verstuurd"].morph.get("VerbForm") == [
        "Part"
    ]


def test_entities_come_from_frog(frog_run) -> None:
    doc = frog_run["Dan is nu het woord aan de heer Snels van GroenLinks."]
    assert ("Snels", "PER") in [(e.text, e.label_) for e in doc.ents]
    assert "GroenLinks" in [e.text for e in doc.ents]


def test_frog_with_parser_meets_its_gold_floors(frog_run) -> None:
    gold = read_gold()
    result = score(gold, {t: frog_run[t] for t in gold})
    assert result.tokens >= 200
    assert result.lemma >= FLOORS["frog+parser"]["lemma"], result
    assert result.upos >= FLOORS["frog+parser"]["upos"], result


def test_simplemma_meets_its_floor_and_beats_the_lookup_lemmas() -> None:
    gold = read_gold()
    texts = list(gold)
    simple = score(gold, dict(zip(texts, load_blank("nl")[0].pipe(texts), strict=True)))
    lookup = score(gold, dict(zip(texts, load_lookup("nl").pipe(texts), strict=True)))
    assert simple.lemma >= FLOORS["simplemma"]["lemma"], simple
    assert simple.lemma > lookup.lemma + 0.05, (simple, lookup)  # 0.965 vs 0.865 measured
    assert simple.upos == 0.0  # no tagger: never guessed


# selection and provenance ----------------------------------------------------------------------


def test_the_cache_key_follows_backend_version_and_parser() -> None:
    blank = load_blank("nl")[1]
    assert fingerprint(blank) == fingerprint(load_blank("nl")[1])
    frog_on = blank.__class__(**{**blank.__dict__, "backend": "frog", "version": "frog 0.20"})
    frog_on = frog_on.__class__(**{**frog_on.__dict__, "parser": True})
    frog_off = frog_on.__class__(**{**frog_on.__dict__, "parser": False})
    newer = frog_on.__class__(**{**frog_on.__dict__, "version": "frog 0.21"})
    keys = {fingerprint(x) for x in (blank, frog_on, frog_off, newer)}
    assert len(keys) == 4


def test_auto_falls_back_to_simplemma_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    monkeypatch.delenv("CDA_FROG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: no frog
    backend = load_backend(NlpConfig(), "nl")
    assert backend.info.backend == "blank" and backend.info.pipeline.endswith("+simplemma")
    assert frog.MISSING in backend.info.note
    assert frog.MISSING == (
        "Frog not found on PATH: falling back to simplemma lemmas, no POS/entities/parse; "
        "install with apt-get install frog frogdata uctodata"
    )
    assert frog.MISSING in caplog.text
    assert backend.info.disabled_features == [
        "part-of-speech tags",
        "named entities",
        "dependency parses",
    ]
    with pytest.raises(CdaError) as refused:
        load_backend(NlpConfig(backend="frog"), "nl")
    assert "Frog (frog) is not on PATH" in refused.value.message
    assert "apt-get install frog frogdata uctodata" in refused.value.hint


def test_frog_that_does_not_run_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    with pytest.raises(CdaError) as refused:
        load_backend(NlpConfig(backend="frog", frog="/bin/false"), "nl")
    assert "Frog (/bin/false) did not report its version" in refused.value.message
    assert "apt-get install frog" in refused.value.hint
    with pytest.raises(CdaError) as english:
        load_backend(NlpConfig(backend="frog"), "en")
    assert "Dutch only" in english.value.message


def _trained_tagger(path: Path) -> Path:
    """A real, tiny trained Dutch pipeline: blank + a tagger trained for a few iterations."""
    from spacy.training import Example

    nlp = spacy.blank("nl")
    tagger = nlp.add_pipe("tagger")
    data = [("Wij lopen naar huis", ["PRON", "VERB", "ADP", "NOUN"])]
    data += [("Zij fietsen naar school", ["PRON", "VERB", "ADP", "NOUN"])]
    for _, tags in data:
        for tag in tags:
            tagger.add_label(tag)
    examples = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in data]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    nlp.meta.update(name="tiny_tagger", version="0.0.1")
    nlp.to_disk(path)
    return path


def test_a_trained_spacy_pipeline_wins_over_frog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    model = _trained_tagger(tmp_path / "tiny")
    backend = load_backend(NlpConfig(model=str(model)), "nl")  # auto, with Frog installed
    info = backend.info
    assert info.backend == "spacy" and info.pipeline == "nl_tiny_tagger-0.0.1"
    assert info.version == "nl_tiny_tagger 0.0.1" and info.parser is False
    assert "part-of-speech tags" not in info.disabled_features
    assert {"named entities", "dependency parses"} <= set(info.disabled_features)
    doc = next(iter(backend.parse(["Wij lopen naar huis"])))
    assert [t.tag_ for t in doc] == ["PRON", "VERB", "ADP", "NOUN"]  # the tagger ran
    with pytest.raises(CdaError) as refused:
        load_backend(NlpConfig(model=str(model)), "en")
    assert "is for language 'nl'" in refused.value.message
    with pytest.raises(CdaError) as missing:
        load_backend(NlpConfig(backend="spacy"), "nl")
    assert "nl_core_news_lg and nl_core_news_md are not installed" in missing.value.message


def test_unknown_backend_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BACKEND, "stanza")
    with pytest.raises(CdaError) as refused:
        load_backend(NlpConfig(), "nl")
    assert f"{ENV_BACKEND}='stanza'" in refused.value.message


def test_tokens_v1_tables_are_upgraded(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.core.io import read_table

    v1 = pd.DataFrame(
        {
            "segment_id": ["s1"],
            "token_index": [0],
            "sentence_index": [0],
            "text": ["Wij"],
            "lemma": ["wij"],
            "pos": [None],
            "is_stop": [True],
            "is_punct": [False],
            "is_alpha": [True],
            "start_char": [0],
        }
    )
    table = pa.Table.from_pandas(v1, preserve_index=False)
    table = table.replace_schema_metadata({b"cda.schema": b"tokens.v1"})
    pq.write_table(table, tmp_path / "tokens.parquet")
    got = read_table(tmp_path / "tokens.parquet", TOKENS)
    assert list(got.columns) == TOKENS.names
    row = got.iloc[0]
    assert row["lemma"] == "wij"
    for name in ("tag", "morph", "ent_iob", "ent_type", "head", "dep"):
        assert pd.isna(row[name])


# the stage on the real Frog --------------------------------------------------------------------


@needs_frog
def test_nlp_stage_runs_frog_records_it_and_caches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.cli.init import init_workspace
    from pipeline.core.io import read_table, write_table
    from pipeline.core.paths import Workspace

    monkeypatch.delenv(ENV_BACKEND, raising=False)  # auto: Frog is on PATH here
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="gold", groups=["g"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("nlp:\n  parser: false\n")
    gold = read_gold()
    texts = list(gold)
    segments = pd.DataFrame(
        {
            "recording_id": "r",
            "group": "g",
            "segment_id": [f"r-{i:04d}" for i in range(len(texts))],
            "start": None,
            "end": None,
            "overlap": None,
            "speaker": "P01",
            "role": "participant",
            "text": texts,
            "source": "test",
        },
        columns=SEGMENTS.names,
    )
    write_table(segments, SEGMENTS, ws.segments)
    runner = CliRunner()
    result = runner.invoke(app, ["nlp", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    version_line = frog.frog_version(FROG)
    assert said.startswith(f"nlp: frog:tokeniser+tagger+lemmatiser+morphology+ner ({version_line}")
    assert "parser off" in said and f"{len(texts)} segment(s) parsed, 0 from cache" in said
    meta = json.loads((ws.interim / "nlp.json").read_text())
    assert meta["backend"] == "frog" and meta["version"] == version_line
    assert meta["parser"] is False and meta["disabled_features"] == ["dependency parses"]
    assert meta["note"] == (  # why Frog, not a warning that something is missing
        "Frog is the best installed backend: no trained spaCy pipeline (nl_core_news_lg, "
        "nl_core_news_md) is installed; install one with `python -m spacy download "
        "nl_core_news_md`"
    )

    tokens = read_table(ws.tokens, TOKENS)
    assert tokens["pos"].notna().all() and tokens["tag"].notna().all()
    assert tokens["ent_iob"].isin(["B", "I", "O"]).all()
    assert tokens["head"].isna().all() and tokens["dep"].isna().all()  # no parser ran
    snels = tokens[tokens["text"] == "Snels"].iloc[0]
    assert (snels["pos"], snels["ent_iob"], snels["ent_type"]) == ("PROPN", "B", "PER")
    # the tokens table, not only the docs, meets the floors of Frog without its parser
    docs = {}
    nlp = spacy.blank("nl")
    for sid, text in zip(segments["segment_id"], texts, strict=True):
        docs[text] = _table_doc(nlp, text, tokens[tokens["segment_id"] == sid])
    result_score = score(gold, docs)
    assert result_score.lemma >= FLOORS["frog"]["lemma"], result_score
    assert result_score.upos >= FLOORS["frog"]["upos"], result_score

    again = runner.invoke(app, ["nlp", "-w", str(ws.root)])  # Frog's cost is paid once
    assert f"0 segment(s) parsed, {len(texts)} from cache" in " ".join(again.output.split())


def _table_doc(nlp, text: str, rows: pd.DataFrame):
    """A doc whose tokens are the table's rows (text, offsets, lemma, POS), to score it."""
    from spacy.tokens import Doc

    words, spaces = [], []
    for k, row in enumerate(rows.itertuples()):
        words.append(row.text)
        end = row.start_char + len(row.text)
        following = rows["start_char"].iloc[k + 1] if k + 1 < len(rows) else len(text)
        spaces.append(following > end)
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    for tok, row in zip(doc, rows.itertuples(), strict=True):
        tok.lemma_, tok.pos_ = row.lemma, row.pos
    return doc


def test_simplemma_version_is_recorded() -> None:
    info = load_blank("nl")[1]
    assert info.version == f"simplemma {version('simplemma')}" and info.parser is False


@needs_frog
def test_terms_are_lemmatised_by_frog_like_the_turns(tmp_path: Path) -> None:
    """A keyword must get the lemma Frog gives the same word in a turn: simplemma lemmatises
    "kloof" as "kloven" and "internet" as "internetten", so with Frog's docs those keywords
    would never match (measured: 3 of the 75 sample codebook and marker terms differ)."""
    from dataclasses import replace

    from pipeline.language.markers import build_matchers, find
    from pipeline.language.parse import pipe_terms

    backend = load_backend(NlpConfig(backend="frog", parser=False), "nl")
    turns = ["De digitale kloof wordt groter.", "Zonder internet red je het niet."]
    docs = list(backend.parse(turns))
    entries = {"code/kloof": (["kloof"], []), "code/internet": (["geen internet", "internet"], [])}

    def matched(terms) -> list[list[str]]:
        phrases, matcher = build_matchers(entries, backend.nlp, terms)
        return [
            sorted({doc.vocab.strings[m] for m, _, _ in find(doc, phrases, matcher)})
            for doc in docs
        ]

    assert matched(backend.terms) == [["code/kloof"], ["code/internet"]]
    assert matched(pipe_terms(backend.nlp)) == [[], []]  # simplemma's lemmas: the old defect

    calls: list[list[str]] = []

    def counted(texts: list[str]):
        calls.append(texts)
        return backend.terms(texts)

    cached = replace(backend, terms=counted).cached_terms(tmp_path)
    assert [d.text for d in cached(["kloof", "internet"])] == ["kloof", "internet"]
    assert [[t.lemma_ for t in d] for d in cached(["internet", "kloof"])] == [
        ["internet"],
        ["kloof"],
    ]
    assert [[t.lemma_ for t in d] for d in cached(["weken"])] == [["week"]]
    assert calls == [["kloof", "internet"], ["weken"]]  # Frog starts only for new terms
    assert len(list(tmp_path.glob("terms-*.spacy"))) == 1
