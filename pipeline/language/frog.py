"""Frog (Dutch tagger, lemmatiser, NER and dependency parser) as spaCy docs.

Frog is GPL-3, so it is never imported: the ``frog`` binary runs as a separate program on a
file of turns, one batch of turns per process (start-up costs ~10 CPU-s and ~1.3-1.9 GB, so
neither one process per turn nor one unbounded process per study). Turns are separated by blank
lines, which Frog treats as paragraph breaks (a forced sentence break, and ``new_paragraph`` on
the next token): that is how tokens are mapped back to their turn. Its ``--JSONout`` (one JSON
array per sentence) names its fields, unlike the tab format whose columns shift when a module
is skipped.

Every token is aligned to the segment's own characters, so ``Doc.text`` is the segment text
and ``start_char`` stays true to it even where Frog would change a character; pseudonymisation
placeholders are replaced by a stand-in word Frog keeps whole and come back as one PROPN token.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline.core.errors import CdaError
from pipeline.language.cgn import (
    AUXILIARIES,
    COPULAS,
    FILLERS,
    alpino_to_ud,
    aux_or_verb,
    cgn_to_ud,
    complement_form,
    feats_string,
)

log = logging.getLogger(__name__)

INSTALL = "apt-get install frog frogdata uctodata"
MISSING = (
    "Frog not found on PATH: falling back to simplemma lemmas, no POS/entities/parse; "
    f"install with {INSTALL}"
)
# Bump when the conversion below changes what a doc holds: the parse cache keys on it.
CONVERSION = "1"
PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")  # as pipeline.language.parse.PLACEHOLDER
STAND_IN = "Xqplaatshouder"  # one word to ucto, tagged as a name; never Dutch text
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FrogSettings:
    """How to run Frog: the binary, whether the dependency parser runs (~30 % more time), and
    at most how many words one Frog process gets (memory stays bounded; start-up is paid per
    batch)."""

    binary: str
    parser: bool = True
    batch_words: int = 20000
    threads: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))


def find_frog(configured: str | None = None) -> str | None:
    """The Frog binary: ``nlp.frog`` in cda.yaml, then ``CDA_FROG``, then ``frog`` on PATH."""
    name = configured or os.environ.get("CDA_FROG") or "frog"
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name)


@lru_cache(maxsize=4)
def frog_version(binary: str) -> str:
    """``frog 0.20 (ucto 0.21.1, libfolia 2.4, timbl 6.5, ticcutils 0.24, mbt 3.6)`` from
    ``frog -V`` (which writes to stderr), for provenance and the parse cache key."""
    with tempfile.TemporaryDirectory(prefix="cda-frog-") as tmp:
        try:
            proc = subprocess.run(
                [binary, "-V"], capture_output=True, text=True, cwd=tmp, timeout=120
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise CdaError(f"Frog ({binary}) does not run: {exc}", hint=INSTALL) from None
    said = proc.stdout + proc.stderr
    head = re.search(r"^frog (\S+)", said, re.M)
    based = re.search(r"based on \[([^\]]*)\]", said)
    if proc.returncode != 0 or not head:
        raise CdaError(
            f"Frog ({binary}) did not report its version (exit {proc.returncode})", hint=INSTALL
        )
    return f"frog {head.group(1)}" + (f" ({based.group(1)})" if based else "")


def read_frog_json(text: str) -> list[list[dict]]:
    """Frog's ``--JSONout``: not one document but one JSON array per sentence, back to back."""
    decoder, at, out = json.JSONDecoder(), 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return out
        sentence, at = decoder.raw_decode(text, at)
        out.append(sentence)


def split_mwu(sentence: list[dict]) -> list[dict]:
    """Frog glues multi-word units when the parser runs (``dan_wel``, tag ``BW()_BW()``):
    split them back into the words of the text. Part 1 keeps the unit's head and relation, the
    later parts attach to part 1 as ``fixed``; heads become 0-based within the sentence (None:
    root, or no parse)."""
    out: list[dict] = []
    first_of: dict[int, int] = {}
    for tok in sentence:
        tags = re.split(r"(?<=\))_", tok["pos"]["tag"])
        words = tok["word"].split("_") if len(tags) > 1 else [tok["word"]]
        if len(words) != len(tags):
            words, tags = [tok["word"]], [tags[0]]
        lemmas = tok.get("lemma", "").split("_") if len(tags) > 1 else [tok.get("lemma", "")]
        if len(lemmas) != len(words):
            lemmas = words
        ner = tok.get("ner", {}).get("tag", "O").split("_")
        ner = ner if len(ner) == len(words) else [ner[0]] + ["I" + ner[0][1:]] * (len(words) - 1)
        first_of[tok["index"]] = len(out)
        parse = tok.get("parse")
        for k, word in enumerate(words):
            out.append(
                {
                    "word": word,
                    "lemma": lemmas[k],
                    "tag": tags[k],
                    "ner": ner[k] if ner[k] != "I" else "O",
                    "src": tok["index"],
                    "part": k,
                    "parse": parse,
                    "new_paragraph": k == 0 and bool(tok.get("ucto", {}).get("new_paragraph")),
                }
            )
    for tok in out:
        parse = tok.pop("parse")
        if parse is None:
            tok["head"], tok["role"] = None, None
        elif tok["part"]:
            tok["head"], tok["role"] = first_of[tok["src"]], "fixed"
        else:
            head = parse.get("parse_index") or 0
            tok["head"] = first_of.get(head) if head else None
            tok["role"] = parse.get("parse_role")
    return out


# running Frog -------------------------------------------------------------------------------


def run_frog(texts: list[str], settings: FrogSettings) -> list[list[list[dict]]]:
    """One Frog process on ``texts`` (each non-blank, whitespace collapsed to single spaces):
    per text, its sentences, each a list of tokens (:func:`split_mwu`)."""
    with tempfile.TemporaryDirectory(prefix="cda-frog-") as tmp:
        source, target = Path(tmp) / "turns.txt", Path(tmp) / "frog.json"
        source.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        command = [settings.binary, "-t", str(source), "--JSONout", "-o", str(target)]
        command.append(f"--threads={settings.threads}")
        if not settings.parser:
            command.append("--skip=p")  # not --skip=m: that silently drops the parser too
        try:
            # cwd: Frog leaves frog.<pid>.debug files in the working directory
            proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        except OSError as exc:
            raise CdaError(f"Frog ({settings.binary}) does not run: {exc}", hint=INSTALL) from None
        if proc.returncode != 0 or not target.is_file():
            said = [line for line in proc.stderr.splitlines() if line.strip()][-3:]
            raise CdaError(
                f"Frog failed (exit {proc.returncode}) on {len(texts)} turn(s): "
                + " / ".join(said),
                hint=f"check that Frog and its data are installed: {INSTALL}",
            )
        try:
            output = target.read_text(encoding="utf-8")
            return frog_turns(output, len(texts))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CdaError(f"Frog wrote output that is not JSON ({exc})", hint=INSTALL) from None


def frog_turns(output: str, expected: int) -> list[list[list[dict]]]:
    """Frog's ``--JSONout`` for ``expected`` turns: per turn its sentences, each a list of
    tokens with multi-word units split (also for output saved earlier, as in the tests)."""
    return _by_turn([split_mwu(s) for s in read_frog_json(output) if s], expected)


def _by_turn(sentences: list[list[dict]], expected: int) -> list[list[list[dict]]]:
    """Group sentences by turn: a turn's first token carries ``new_paragraph``."""
    turns: list[list[list[dict]]] = []
    for sentence in sentences:
        if sentence[0]["new_paragraph"] or not turns:
            turns.append([])
        turns[-1].append(sentence)
    if len(turns) != expected:
        raise CdaError(
            f"Frog returned {len(turns)} paragraph(s) for {expected} turn(s)",
            hint="report this with the turns of the segment table; set nlp.backend: blank "
            "to run without Frog meanwhile",
        )
    return turns


# aligning Frog's tokens to the text ---------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A segment text as sent to Frog: whitespace collapsed, placeholders replaced by
    :data:`STAND_IN`; ``start``/``end`` give each sent character's span in the original."""

    sent: str
    start: list[int]
    end: list[int]
    placeholders: list[str]


def prepare(text: str) -> Prepared:
    sent, start, end, placeholders = [], [], [], []
    at = 0
    pieces = re.finditer(rf"{PLACEHOLDER.pattern}|\s+", text)
    for match in [*pieces, None]:
        upto = match.start() if match else len(text)
        for i in range(at, upto):
            sent.append(text[i])
            start.append(i)
            end.append(i + 1)
        if match is None:
            break
        if match.group().isspace():
            if sent and match.end() < len(text):
                sent.append(" ")
                start.append(match.start())
                end.append(match.start())  # a space maps to nothing
        else:
            placeholders.append(match.group())
            sent.extend(STAND_IN)
            start.extend([match.start()] * len(STAND_IN))
            end.extend([match.end()] * len(STAND_IN))
        at = match.end()
    return Prepared("".join(sent), start, end, placeholders)


def _spans(words: list[str], sent: str) -> list[tuple[int, int] | None]:
    """Each word's span in ``sent``; where Frog changed characters, a character alignment
    (None: a word whose characters are not in the text)."""
    spans: list[tuple[int, int] | None] = []
    at = 0
    for word in words:
        while at < len(sent) and sent[at] == " ":
            at += 1
        if not sent.startswith(word, at):
            return _aligned(words, sent)
        spans.append((at, at + len(word)))
        at += len(word)
    if sent[at:].strip():
        return _aligned(words, sent)
    return spans


def _aligned(words: list[str], sent: str) -> list[tuple[int, int] | None]:
    where = [i for i, ch in enumerate(sent) if ch != " "]
    chars = "".join(sent[i] for i in where)
    joined = "".join(words)
    to_text: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, joined, chars, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            to_text[block.a + k] = where[block.b + k]
    spans: list[tuple[int, int] | None] = []
    offset, last = 0, 0
    for word in words:
        hits = [to_text[i] for i in range(offset, offset + len(word)) if i in to_text]
        offset += len(word)
        lo = max(hits[0], last) if hits else None
        if lo is None or hits[-1] + 1 <= lo:
            spans.append(None)
            continue
        spans.append((lo, hits[-1] + 1))
        last = hits[-1] + 1
    return spans


@dataclass
class _Token:
    start: int  # offsets in the original text
    end: int
    word: str = ""
    tag: str = ""
    lemma: str = ""
    upos: str = ""
    feats: dict = field(default_factory=dict)
    ner: str = "O"
    head: int | None = None  # index in the doc's token list; None: root (or no parse)
    role: str | None = None
    sent_start: bool = False
    placeholder: bool = False


def _tokens(text: str, prepared: Prepared, sentences: list[list[dict]]) -> list[_Token]:
    """Frog's tokens as spans of ``text`` with their annotations, heads as list indices."""
    flat, offsets, firsts = [], [], set()
    for sentence in sentences:
        firsts.add(len(flat))
        offsets += [len(flat)] * len(sentence)
        flat += sentence
    spans = _spans([t["word"] for t in flat], prepared.sent)
    kept: dict[int, int] = {}
    out: list[_Token] = []
    pending_start = False
    for i, (tok, span) in enumerate(zip(flat, spans, strict=True)):
        pending_start = pending_start or i in firsts
        if span is None:
            continue
        a, b = span
        start, end = prepared.start[a], prepared.end[b - 1]
        kept[i] = len(out)
        head = tok["head"]
        out.append(
            _Token(
                start,
                end,
                word=text[start:end],
                tag=tok["tag"],
                lemma=tok["lemma"],
                ner=tok["ner"],
                head=None if head is None else offsets[i] + head,
                role=tok["role"],
                sent_start=pending_start,
                placeholder=STAND_IN in prepared.sent[a:b],
            )
        )
        pending_start = False
    for tok in out:  # heads: Frog indices -> kept indices (a dropped head: the clause root)
        tok.head = kept.get(tok.head) if tok.head is not None else None
    return out


def _fill(text: str, tokens: list[_Token]) -> list[_Token]:
    """Characters no Frog token covers (Frog dropped or changed them) become tokens of their
    own, so the doc holds the whole text; overlapping spans are trimmed."""
    out: list[_Token] = []
    at = 0
    index: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        gap = text[at : tok.start]
        for m in re.finditer(r"\S+", gap):
            out.append(
                _Token(at + m.start(), at + m.end(), m.group(), tag="SPEC(onverst)", upos="X")
            )
        start = max(tok.start, at)
        if start >= tok.end:
            continue
        tok.start, tok.word = start, text[start : tok.end]
        index[i] = len(out)
        out.append(tok)
        at = tok.end
    for m in re.finditer(r"\S+", text[at:]):
        out.append(_Token(at + m.start(), at + m.end(), m.group(), tag="SPEC(onverst)", upos="X"))
    for tok in out:
        tok.head = index.get(tok.head) if tok.head is not None else None
    if out and not any(t.sent_start for t in out[:1]):
        out[0].sent_start = True
    return out


# annotations ---------------------------------------------------------------------------------


def _annotate(tokens: list[_Token], *, parsed: bool) -> None:
    """UPOS, features, lemmas and UD relations of the tokens (in place, they are ours)."""
    for tok in tokens:
        if tok.placeholder:
            tok.tag, tok.upos, tok.feats, tok.lemma = "SPEC(deeleigen)", "PROPN", {}, ""
        elif tok.upos != "X":
            tok.upos, tok.feats = cgn_to_ud(tok.tag, lemma=tok.lemma, word=tok.word)
            if tok.word.lower() in FILLERS:
                tok.tag = "TSW()"
    for sentence in _sentences(tokens):
        _refine_aux(tokens, sentence, parsed=parsed)
        if parsed:
            _tree(tokens, sentence)


def _sentences(tokens: list[_Token]) -> list[list[int]]:
    out: list[list[int]] = []
    for i, tok in enumerate(tokens):
        if tok.sent_start or not out:
            out.append([])
        out[-1].append(i)
    return out


def _refine_aux(tokens: list[_Token], sentence: list[int], *, parsed: bool) -> None:
    """AUX for hebben and the modals only with a verbal complement: a dependent infinitive or
    participle (Frog's ``vc``, sometimes ``body``) when parsed, else the verb form they
    govern anywhere in the same sentence (a guess)."""
    for i in sentence:
        tok = tokens[i]
        if tok.upos not in ("AUX", "VERB") or tok.lemma not in AUXILIARIES | COPULAS:
            continue
        if parsed:
            complement = any(
                tokens[j].head == i
                and tokens[j].role in ("vc", "body")
                and (tokens[j].feats.get("VerbForm") in ("Inf", "Part") or tokens[j].lemma == "te")
                for j in sentence
            )
        else:
            wanted = complement_form(tok.lemma)
            complement = any(j != i and tokens[j].feats.get("VerbForm") == wanted for j in sentence)
        tok.upos = aux_or_verb(tok.lemma, has_verbal_complement=complement)


def _tree(tokens: list[_Token], sentence: list[int]) -> None:
    """One tree per sentence: Frog's heads outside the sentence or in a cycle, and every root
    after the first, attach to the first root as ``dep`` (spaCy takes one root per sentence,
    and a second root would split Frog's sentence in two). Relations are mapped to UD."""
    inside = set(sentence)
    for i in sentence:
        if tokens[i].head not in inside or tokens[i].head == i:
            tokens[i].head = None
    for i in sentence:  # break cycles
        seen, at = set(), i
        while tokens[at].head is not None and at not in seen:
            seen.add(at)
            at = tokens[at].head
        if tokens[at].head is not None:
            tokens[i].head = None
    roots = [i for i in sentence if tokens[i].head is None]
    root = roots[0]
    deps = {i: _relation(tokens, i) for i in sentence}
    for i in sentence:
        tok = tokens[i]
        if tok.head is None:
            tok.head = i if i == root else root
            tok.role = "ROOT" if i == root else None
            deps[i] = "ROOT" if i == root else "dep"
        tok.role = deps[i]


def _passive_participle(tokens: list[_Token], verb: int) -> int | None:
    """The participle of a worden-passive in the verb chain headed by ``verb`` (following
    ``vc`` down: "moeten worden uitgesloten"), or None."""
    seen = set()
    while verb not in seen:
        seen.add(verb)
        child = next((j for j, t in enumerate(tokens) if t.head == verb and t.role == "vc"), None)
        if child is None:
            return None
        if tokens[verb].lemma == "worden" and tokens[child].feats.get("VerbForm") == "Part":
            return child
        verb = child
    return None


def _relation(tokens: list[_Token], i: int) -> str:
    tok = tokens[i]
    head = tokens[tok.head] if tok.head is not None else None
    head_upos = head.upos if head is not None else ""
    passive = False
    if tok.role == "su" and tok.head is not None:
        passive = _passive_participle(tokens, tok.head) is not None
    if tok.role == "mod" and tok.lemma == "door" and tok.upos == "ADP" and head is not None:
        worden = head.head
        if head.role == "vc" and worden is not None and tokens[worden].lemma == "worden":
            return "obl:agent"
    finite = tok.feats.get("VerbForm") == "Fin"
    return alpino_to_ud(tok.role, upos=tok.upos, head_upos=head_upos, passive=passive,
                        finite=finite)  # fmt: skip


# docs ----------------------------------------------------------------------------------------


def _iob(tokens: list[_Token]) -> list[str]:
    """Frog's NER tags as valid IOB (an I- that does not continue its type starts one)."""
    out, previous = [], "O"
    for tok in tokens:
        tag = tok.ner if tok.ner and tok.ner != "O" and "-" in tok.ner else "O"
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def build_doc(vocab: Vocab, text: str, sentences: list[list[dict]], *, parsed: bool) -> Doc:
    """A spaCy doc of ``text`` from Frog's sentences of it (see :func:`run_frog`)."""
    prepared = prepare(text)
    tokens = _fill(text, _tokens(text, prepared, sentences))
    _annotate(tokens, parsed=parsed)
    return _doc(vocab, text, tokens, parsed=parsed)


def _doc(vocab: Vocab, text: str, tokens: list[_Token], *, parsed: bool) -> Doc:
    """Words and spaces from the text itself (whitespace beyond one space becomes a space
    token, as spaCy does), so ``doc.text == text`` by construction."""
    words, spaces, rows = [], [], []  # rows: index into tokens, or None for a space token
    if tokens and tokens[0].start > 0:
        words.append(text[: tokens[0].start])
        spaces.append(False)
        rows.append(None)
    for k, tok in enumerate(tokens):
        words.append(text[tok.start : tok.end])
        rows.append(k)
        gap = text[tok.end : tokens[k + 1].start if k + 1 < len(tokens) else len(text)]
        spaces.append(gap.startswith(" "))
        extra = gap[1:] if gap.startswith(" ") else gap
        if extra:
            words.append(extra)
            spaces.append(False)
            rows.append(None)
    if not tokens:
        return Doc(vocab, words=[text] if text else [], spaces=[False] if text else [])
    position = {k: n for n, k in enumerate(rows) if k is not None}
    iob = _iob(tokens)
    lemmas, tags, pos, morphs, ents, heads, deps, starts = [], [], [], [], [], [], [], []
    for n, k in enumerate(rows):
        if k is None:  # whitespace: attached to the token before it (the first: after it)
            near = max((m for m in range(n) if rows[m] is not None), default=None)
            near = near if near is not None else n + 1
            lemmas.append(words[n])
            tags.append("_SP")
            pos.append("SPACE")
            morphs.append("")
            ents.append("O")
            heads.append(near)
            deps.append("dep")
            starts.append(n == 0)
            continue
        tok = tokens[k]
        lemmas.append((tok.lemma or words[n]).lower())
        tags.append(tok.tag)
        pos.append(tok.upos or "X")
        morphs.append(feats_string(tok.feats))
        ents.append(iob[k])
        heads.append(position[tok.head] if tok.head is not None else n)
        deps.append(tok.role or "dep")
        starts.append(tok.sent_start)
    doc = Doc(
        vocab,
        words=words,
        spaces=spaces,
        lemmas=lemmas,
        tags=tags,
        pos=pos,
        morphs=morphs,
        ents=ents,
        heads=heads if parsed else None,
        deps=deps if parsed else None,
        sent_starts=None if parsed else starts,
    )
    if doc.text != text:  # by construction never: a defect here would silently change text
        raise CdaError(
            f"Frog's tokens could not be aligned to the text {text[:60]!r}",
            hint="report this; set nlp.backend: blank to run without Frog meanwhile",
        )
    return doc


def frog_docs(texts: Iterable[str], vocab: Vocab, settings: FrogSettings) -> Iterator[Doc]:
    """Docs for ``texts`` in order, one Frog process per batch of at most
    ``settings.batch_words`` words (a longer turn gets a batch of its own)."""
    batch: list[str] = []
    words = 0
    for text in texts:
        count = len(text.split())
        if batch and words + count > settings.batch_words:
            yield from _batch_docs(batch, vocab, settings)
            batch, words = [], 0
        batch.append(text)
        words += count
    if batch:
        yield from _batch_docs(batch, vocab, settings)


def _batch_docs(texts: list[str], vocab: Vocab, settings: FrogSettings) -> Iterator[Doc]:
    prepared = [prepare(text).sent for text in texts]
    sendable = [i for i, sent in enumerate(prepared) if sent.strip()]
    log.info("frog: %d turn(s), %d word(s)", len(sendable), sum(len(t.split()) for t in texts))
    results = run_frog([prepared[i] for i in sendable], settings) if sendable else []
    by_index = dict(zip(sendable, results, strict=True))
    for i, text in enumerate(texts):
        yield build_doc(vocab, text, by_index.get(i, []), parsed=settings.parser)
