"""``cda``: one subcommand per stage; each parses options, calls one function, prints a summary.

Laid out as spaCy's ``cli/`` package: :mod:`pipeline.cli._util` holds the app, the shared
options and :func:`main`; each module named by a stage word holds that stage's commands, whose
functions (``nlp_cli``) parse options and call the stage's plain function (``run_nlp``). The
imports below register the commands, in the order ``cda --help`` lists them.

Errors the user can fix (:class:`pipeline.core.errors.CdaError`) are printed on one line with a hint
and exit status 2 (with ``--verbose``, after the traceback of what caused them); anything else is
a bug and keeps its traceback.
"""

# The order of registration is the order of `cda --help`: keep it.
# isort: off
from pipeline.cli import (  # noqa: F401  (imported to register their commands)
    init,
    ingest,
    transcribe,
    importers,
    pseudonymise,
    nlp,
    corpus,
    topics,
    report,
    codebook,
    suggest,
    labelstudio,
    code,
    agreement,
    export,
    config,
    run,
)

# isort: on
from pipeline.cli._util import app, main

__all__ = ["app", "main"]
