"""Critical discourse analysis pipeline for workshop recordings.

Stages exchange parquet tables with declared schemas (:mod:`pipeline.core.schemas`) inside a
workspace (:mod:`pipeline.core.paths`); the CLI (:mod:`pipeline.cli`) and the Makefile wire them.
"""

__version__ = "0.1.0"
