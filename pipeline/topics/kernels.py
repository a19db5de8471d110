"""UMAP's compiled kernels, kept on disk between processes.

umap-learn and pynndescent declare most of their numba kernels without ``cache=True``, so every
fresh process (every ``cda topics``) compiles them again before it fits anything: 15-25 s on
two cores, more than the fit itself below a few thousand units. numba can keep them the way it
keeps the kernels those libraries already mark for caching: in the package's ``__pycache__``, or
under ``NUMBA_CACHE_DIR`` when that is set, or in the user's cache folder when the package folder
is read-only. A cached kernel is the machine code the compiler made, keyed by the source file's
stamp and the argument types, so the embedding does not change (tests/test_topics.py compares a
compiling process with one that loads every kernel from the cache).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

PACKAGES = ("umap", "pynndescent")
"""Packages whose numba kernels are cached; both are imported when UMAP is."""

_enabled: set[int] = set()
"""Kernels this process has already given a cache (ids of numba dispatchers)."""


def kernels(packages: tuple[str, ...] = PACKAGES) -> list:
    """The numba dispatchers defined at module level in the loaded modules of ``packages``."""
    from numba.core.dispatcher import Dispatcher

    found: dict[int, object] = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher):
                found.setdefault(id(value), value)
    return list(found.values())


def cache_kernels(packages: tuple[str, ...] = PACKAGES) -> int:
    """Give every uncached kernel of ``packages`` numba's on-disk cache; return how many.

    Call it after importing the packages and before the first fit, so that kernels are saved
    when compiled and loaded by later processes. A kernel numba cannot cache (no writable
    place for its cache) is left to compile as before.
    """
    from numba.core.caching import NullCache

    count = 0
    for kernel in kernels(packages):
        if id(kernel) in _enabled:
            continue
        _enabled.add(id(kernel))
        if not isinstance(kernel._cache, NullCache):
            continue  # the library caches it already
        try:
            kernel.enable_caching()
        except RuntimeError as exc:  # numba: "no locator available for file ..."
            log.debug("numba kernel %s stays uncached: %s", kernel.__name__, exc)
            continue
        count += 1
    if count:
        log.debug("numba: %d kernels of %s cached on disk", count, ", ".join(packages))
    return count
