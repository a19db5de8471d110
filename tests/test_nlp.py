"""The nlp stage on hand-checked Dutch sentences and on the real ParlaMint debate."""

from __future__ import annotations

import csv
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from helpers import PARLAMINT
from spacy.tokens import DocBin

from pipeline.core.schemas import SEGMENTS, SENTENCES, TOKENS
from pipeline.language.parse import load_pipeline
from pipeline.nlp import analyse


def segments(*texts: str) -> pd.DataFrame:
    rows = [
        {
            "recording_id": "r",
            "group": "g",
            "segment_id": f"r-{i:04d}",
            "start": None,
            "end": None,
            "speaker": "P01",
            "role": "participant",
            "text": t,
            "source": "test",
        }
        for i, t in enumerate(texts, start=1)
    ]
    return pd.DataFrame(rows, columns=SEGMENTS.names)


@pytest.fixture(scope="module")
def blank_nl():
    nlp, info = load_pipeline("no_such_model_installed", "nl")
    return nlp, info


def test_fallback_pipeline_is_recorded_with_what_it_cannot_do(blank_nl) -> None:
    _, info = blank_nl
    assert info.pipeline == "blank:nl+sentencizer+simplemma"
    assert "part-of-speech tags" in info.disabled_features


def test_sentences_tokens_and_irregular_lemmas(blank_nl) -> None:
    nlp, _ = blank_nl
    sents, toks = analyse(segments("Zij gingen naar huis. Wij liepen weg!", "Ja."), nlp)
    assert list(sents.columns) == SENTENCES.names and list(toks.columns) == TOKENS.names
    first = sents[sents["segment_id"] == "r-0001"]
    assert first["text"].tolist() == ["Zij gingen naar huis.", "Wij liepen weg!"]
    text = "Zij gingen naar huis. Wij liepen weg!"
    for row in first.itertuples():
        assert text[row.start_char : row.end_char] == row.text
    lemmas = dict(zip(toks["text"], toks["lemma"], strict=False))
    assert lemmas["gingen"] == "gaan" and lemmas["liepen"] == "lopen"
    assert toks.loc[toks["text"] == "Zij", "is_stop"].item()
    assert toks.loc[toks["text"] == "!", "is_punct"].item()
    assert toks.loc[toks["text"] == "Wij", "sentence_index"].item() == 1


def test_pseudonymisation_placeholders_stay_single_tokens(blank_nl) -> None:
    nlp, _ = blank_nl
    _, toks = analyse(segments("Zoals [P03] zei: in [PLAATS], bij [ORGANISATIE]."), nlp)
    texts = toks["text"].tolist()
    assert {"[P03]", "[PLAATS]", "[ORGANISATIE]"} <= set(texts)
    assert "PLAATS" not in texts and "P03" not in texts
    assert not toks.loc[toks["text"] == "[PLAATS]", "is_alpha"].item()


@pytest.mark.skipif(not PARLAMINT.exists(), reason="shared ParlaMint data not present")
def test_real_debate_keeps_every_word(blank_nl) -> None:
    nlp, _ = blank_nl
    with PARLAMINT.open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle, delimiter="\t") if row["text"]]
    sents, toks = analyse(segments(*texts), nlp)
    assert sents["segment_id"].nunique() == len(texts)
    # every alphabetic whitespace-separated word of the source survives tokenisation
    source_words = sum(1 for t in texts for w in t.split() if w.isalpha())
    assert toks["is_alpha"].sum() >= source_words
    assert toks[toks["text"] == "staatssecretaris"]["lemma"].eq("staatssecretaris").all()


def test_nlp_stage_caches_parses_and_rematches_markers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table, write_table
    from pipeline.core.paths import Workspace
    from pipeline.core.schemas import MARKERS
    from pipeline.importers import import_transcripts
    from pipeline.nlp import run_nlp
    from pipeline.pseudonymise import pseudonymise

    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, sample=True)
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    segments = read_table(ws.segments, SEGMENTS)

    first = run_nlp(ws, config)
    assert (first.parsed, first.cached) == (len(segments), 0)
    assert first.markers > 100
    stamp = ws.tokens.stat().st_mtime_ns
    (cache,) = (ws.interim / "nlp").glob("docs-*.spacy")
    # the key is the hash of the doc's own text: no per-doc user data (which cost more to
    # write and read back than the blank pipeline's parse)
    assert all(data is None for data in DocBin().from_disk(cache).user_data)
    before = cache.stat()
    outputs = [ws.sentences, ws.tokens, ws.markers, ws.clauses, ws.interim / "nlp.json"]
    written = [path.read_bytes() for path in outputs]

    # nothing new parsed: the cache is neither serialised nor rewritten (the real
    # DocBin.to_bytes, counted), and every output is the same
    serialised = []
    real = DocBin.to_bytes
    monkeypatch.setattr(DocBin, "to_bytes", lambda self: serialised.append(1) or real(self))
    second = run_nlp(ws, config)
    monkeypatch.undo()
    assert (second.parsed, second.cached) == (0, len(segments))
    assert serialised == [], "nothing was parsed, so the cache is not serialised"
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [path.read_bytes() for path in outputs] == written
    assert ws.tokens.stat().st_mtime_ns == stamp, "identical tokens are not rewritten"

    # a cache in the old format (each doc's text hash in its user data) is read, not
    # reparsed, and rewritten once without the user data
    import spacy

    from pipeline.language.parse import text_key

    docs = list(DocBin().from_disk(cache).get_docs(spacy.blank("nl").vocab))
    for doc in docs:
        doc.user_data["cda_key"] = text_key(doc.text)
    cache.write_bytes(DocBin(store_user_data=True, docs=docs).to_bytes())
    assert run_nlp(ws, config).parsed == 0
    assert all(data is None for data in DocBin().from_disk(cache).user_data)
    assert [path.read_bytes() for path in outputs] == written

    markers_file = ws.codebooks / "markers.yaml"
    text = markers_file.read_text(encoding="utf-8")
    markers_file.write_text(text[: text.index("  negation:")], encoding="utf-8")
    third = run_nlp(ws, config)
    assert third.parsed == 0
    categories = set(read_table(ws.markers, MARKERS)["category"])
    assert "negation" not in categories and "ingroup" in categories

    changed = segments.copy()
    changed.loc[0, "text"] = changed.loc[0, "text"] + " Dat is nieuw."
    write_table(changed, SEGMENTS, ws.segments)
    assert run_nlp(ws, config).parsed == 1
    tokens = read_table(ws.tokens, TOKENS)
    first_segment = tokens[tokens["segment_id"] == changed.loc[0, "segment_id"]]
    assert first_segment["text"].tolist()[-4:] == ["Dat", "is", "nieuw", "."]


# the language decides the pipeline, the markers and the message -----------------------------

SAMPLE_STM = Path(__file__).resolve().parents[2] / "shared" / "data" / "conversation-sample-en"
SAMPLE_STM = SAMPLE_STM / "sample.stm"
STM_TEXT = "Diane: I didn't know you were there.\nSheila: Neither did I.\n"  # if the STM is absent


def test_default_model_follows_the_study_language() -> None:
    from pipeline.core.config import NlpConfig

    default = NlpConfig()
    assert default.model_for("nl") == "nl_core_news_md"
    assert default.model_for("en") == "en_core_web_md"  # not the Dutch pipeline
    assert default.model_for("de") == "de_core_news_md"
    assert NlpConfig(model="en_core_web_lg").model_for("en") == "en_core_web_lg"  # explicit wins


def test_blank_pipeline_says_what_was_asked_for_and_how_to_get_it() -> None:
    nlp, info = load_pipeline("en_core_web_md", "en")
    assert nlp.lang == "en"
    assert info.pipeline == "blank:en+sentencizer+simplemma"
    assert info.requested == "en_core_web_md"
    assert info.note == (
        "en_core_web_md is not installed; install it with `python -m spacy download en_core_web_md`"
    )


def _workspace(root: Path, language: str, transcript: str):
    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.importers import import_transcripts
    from pipeline.pseudonymise import pseudonymise

    ws = Workspace.at(root)
    init_workspace(ws, study="gesprek", groups=["callers"], language=language)
    (ws.raw / "call.txt").write_text(transcript, encoding="utf-8")
    ws.manifest.write_text(
        "recording_id,group,date,language,media,transcript,sha256\ncall,callers,,,,raw/call.txt,\n",
        encoding="utf-8",
    )
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    return ws, config


def _stm_as_turns() -> str:
    if not SAMPLE_STM.is_file():
        pytest.skip(f"shared English conversation not found at {SAMPLE_STM}")
    fields = [line.split(" ", 5) for line in SAMPLE_STM.read_text().splitlines() if line]
    return "".join(f"{f[2]}: {f[5]}\n" for f in fields)


def test_english_study_runs_english_pipeline_and_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.core.io import read_table
    from pipeline.core.schemas import MARKERS
    from pipeline.language.markers import default_text

    monkeypatch.delenv("CDA_NLP_BACKEND", raising=False)  # auto: Frog is for Dutch only
    ws, _ = _workspace(tmp_path / "ws", "en", _stm_as_turns())
    markers_file = ws.codebooks / "markers.yaml"
    assert markers_file.read_text(encoding="utf-8") == default_text("en")  # cda init's copy

    result = CliRunner().invoke(app, ["nlp", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert said.startswith(
        f"nlp: blank:en+sentencizer+simplemma (simplemma {version('simplemma')}, parser off; "
        "no trained spaCy pipeline (en_core_web_lg, en_core_web_md) is installed; "
        "install one with `python -m spacy download en_core_web_md`); 12 segment(s) parsed, "
        "1 from cache"  # 13 turns, "Hello?" twice: one parse
    )
    assert said.endswith("6 marker match(es)")
    meta = json.loads((ws.interim / "nlp.json").read_text())
    assert meta["pipeline"] == "blank:en+sentencizer+simplemma"
    assert meta["requested"] == "en_core_web_md"
    assert meta["markers"].startswith("codebooks/markers.yaml v1")
    markers = read_table(ws.markers, MARKERS)
    # by hand from the reference transcript (see test_markers): four negations (didn't,
    # Neither, isn't, don't), "they" and "can" in "they all call me ... so what can I say?"
    assert markers["category"].value_counts().to_dict() == {
        "negation": 4,
        "outgroup": 1,
        "modality": 1,
    }


def test_language_without_markers_gets_none_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.core.io import read_table
    from pipeline.core.schemas import MARKERS

    monkeypatch.delenv("CDA_NLP_BACKEND", raising=False)
    ws, _ = _workspace(
        tmp_path / "ws", "de", "Anna: Wir müssen nicht immer alles wissen.\nBen: Nein.\n"
    )
    assert not (ws.codebooks / "markers.yaml").exists()  # no Dutch copy for a German study
    result = CliRunner().invoke(app, ["nlp", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        f"nlp: blank:de+sentencizer+simplemma (simplemma {version('simplemma')}, parser off; "
        in said
    )
    assert "no trained spaCy pipeline (de_core_news_lg, de_core_news_md) is installed" in said
    assert "no discourse markers for language 'de'" in said
    assert read_table(ws.markers, MARKERS).empty  # Dutch "niet"/"wij" never counted here
    meta = json.loads((ws.interim / "nlp.json").read_text())
    assert meta["markers"].startswith("no discourse markers for language 'de'")


def test_marker_file_of_another_language_stops_the_stage_before_writing(tmp_path: Path) -> None:
    from pipeline.core.errors import CdaError
    from pipeline.language.markers import default_text
    from pipeline.nlp import run_nlp

    ws, config = _workspace(tmp_path / "ws", "en", STM_TEXT)
    (ws.codebooks / "markers.yaml").write_text(default_text("nl"), encoding="utf-8")
    with pytest.raises(CdaError) as info:
        run_nlp(ws, config)
    assert "codebooks/markers.yaml:" in info.value.message
    assert "'nl'" in info.value.message and "'en'" in info.value.message
    assert not ws.tokens.exists() and not ws.markers.exists()


def _install_pipeline(site: Path, lang: str) -> str:
    """A real (tiny) spaCy pipeline package, installed into ``site``: blank + sentencizer."""
    import json

    import spacy

    name, version = f"{lang}_cda_test", "0.0.1"
    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    nlp.meta.update(name="cda_test", version=version)
    package = site / name
    package.mkdir(parents=True)
    nlp.to_disk(package / f"{name}-{version}")
    (package / "meta.json").write_text(json.dumps(nlp.meta), encoding="utf-8")
    (package / "__init__.py").write_text(
        "from spacy.util import load_model_from_init_py\n\n\n"
        "def load(**overrides):\n    return load_model_from_init_py(__file__, **overrides)\n",
        encoding="utf-8",
    )
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    return name


def test_installed_pipeline_runs_for_its_language_and_is_refused_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.core.errors import CdaError

    name = _install_pipeline(tmp_path / "site", "nl")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    nlp, info = load_pipeline(name, "nl")
    assert info.pipeline == f"{name}-0.0.1" and info.requested == name and info.note == ""
    assert nlp.lang == "nl" and "cda_lower_lemma" in nlp.pipe_names
    with pytest.raises(CdaError) as refused:
        load_pipeline(name, "en")  # a Dutch pipeline on English text
    assert f"spaCy model {name} is for language 'nl'" in refused.value.message
    assert "'en'" in refused.value.message and "nlp.model" in refused.value.hint


def test_cda_init_copies_the_study_languages_markers_or_says_there_are_none(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.language.markers import default_text

    runner = CliRunner()
    german = Workspace.at(tmp_path / "de")
    result = runner.invoke(app, ["init", "-w", str(german.root), "--language", "de"])
    assert result.exit_code == 0, result.output
    assert load_config(german).language == "de"
    assert not (german.codebooks / "markers.yaml").exists()
    assert "no bundled discourse markers for language 'de'" in " ".join(result.output.split())

    english = Workspace.at(tmp_path / "en")
    english.root.mkdir()
    english.config_file.write_text("study: s\nlanguage: en\ngroups: [a]\n", encoding="utf-8")
    # an existing cda.yaml decides, not the --language default (nl)
    assert runner.invoke(app, ["init", "-w", str(english.root)]).exit_code == 0
    assert (english.codebooks / "markers.yaml").read_text(encoding="utf-8") == default_text("en")


def test_lemma_components_and_marker_shadow_equal_the_token_by_token_rules(
    blank_nl, monkeypatch
) -> None:
    """The simplemma and lower-case components and the markers' folded shadow doc work on
    token arrays with each distinct word looked up once; on the real debate every lemma and
    shadow word equals the token-by-token rule they replaced."""
    import unicodedata

    import simplemma

    from pipeline.language.fold import fold
    from pipeline.language.markers import folded

    def strip(text: str) -> str:
        decomposed = unicodedata.normalize("NFD", text)
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
        return unicodedata.normalize("NFC", plain)

    def reference(text: str) -> str:  # the component's rule, then lower case
        if not any(ch.isalpha() for ch in text):
            return text.lower()
        lemma = simplemma.lemmatize(text, lang="nl")
        if lemma == text and not simplemma.is_known(text, lang="nl"):
            plain = strip(text)
            if plain != text and simplemma.is_known(plain, lang="nl"):
                lemma = simplemma.lemmatize(plain, lang="nl")
        return (lemma if "_" in text else lemma.replace("_", "")).lower()

    from pipeline.language import parse

    nlp, _ = blank_nl
    with PARLAMINT.open(encoding="utf-8", newline="") as handle:
        texts = [r["text"] for r in csv.DictReader(handle, delimiter="\t")][:300]
    calls: list[str] = []
    real = simplemma.lemmatize
    parse.simplemma_lemma.cache_clear()
    parse._SIMPLEMMA.clear()
    monkeypatch.setattr(simplemma, "lemmatize", lambda t, **kw: calls.append(t) or real(t, **kw))
    docs = list(nlp.pipe([*texts, "", "Wél  mógen\n\nEuropése over_brengen"]))
    monkeypatch.undo()
    tokens = [t for doc in docs for t in doc]
    assert len(tokens) > 7000
    # each distinct word once (twice when a stripped accent is retried), not every token
    assert len(calls) <= 2 * len({t.text for t in tokens}) < len(tokens) / 2
    assert [t.lemma_ for t in tokens] == [reference(t.text) for t in tokens]
    for doc in docs:
        assert [t.text for t in folded(doc)] == [fold(t.lemma_ or t.text) or t.text for t in doc]
