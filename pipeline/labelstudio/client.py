"""One command's conversation with Label Studio: where, with which key, how patiently.

Every push, pull and adjudication needs the same four things together: the server's URL and
key, an SDK client bound to one HTTP connection pool, the study's retry and timeout settings,
and the study config (project titles, coders). :class:`Client` holds them, so the functions
that talk to the server take one argument instead of ``(ls, conn, config)``.

No secrets in output: errors are rebuilt from status codes and transport error types, never
from the SDK's messages (which may echo request headers), and the client's ``repr`` hides the
key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace
from pipeline.labelstudio.server import Connection, connection

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


@dataclass(frozen=True)
class Client:
    """A checked connection to one Label Studio server, for the length of one command.

    ``sdk`` is the ``label_studio_sdk.LabelStudio`` client; ``backoff`` is the first wait
    before a retry (doubled on each further retry, ``retries`` times at most).
    """

    conn: Connection
    config: StudyConfig
    sdk: LabelStudio
    backoff: float = 0.5

    def __repr__(self) -> str:
        return f"Client(url={self.conn.url!r}, study={self.config.study!r})"

    @classmethod
    @contextmanager
    def open(cls, ws: Workspace, config: StudyConfig) -> Iterator[Client]:
        """A client for one command; the key is checked first, so a bad key fails before work."""
        from label_studio_sdk import LabelStudio

        conn = connection(ws, config)
        with httpx.Client(timeout=config.labelstudio.timeout, follow_redirects=True) as http:
            sdk = LabelStudio(base_url=conn.url, api_key=conn.api_key, httpx_client=http)
            client = cls(conn, config, sdk)
            with client.talking("checking the API key"):
                client.sdk.users.whoami()
            yield client

    @property
    def url(self) -> str:
        return self.conn.url

    @property
    def retries(self) -> int:
        return self.config.labelstudio.retries

    @property
    def batch_size(self) -> int:
        return self.config.labelstudio.batch_size

    @contextmanager
    def talking(self, what: str) -> Iterator[None]:
        """Turn transport and HTTP errors into one-line errors that say what to do (no secrets)."""
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise CdaError(
                f"cannot reach Label Studio at {self.url} while {what}",
                hint="start it with `make labelstudio WS=…`, or fix LABEL_STUDIO_URL / "
                "labelstudio.url",
            ) from None
        except httpx.TransportError as exc:
            raise CdaError(
                f"network error talking to Label Studio at {self.url} while {what} "
                f"({type(exc).__name__})",
                hint="run the same command again: it resumes without duplicating anything",
            ) from None
        except ApiError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise CdaError(
                    f"Label Studio at {self.url} rejected the API key (HTTP {status}) while {what}",
                    hint="check LABEL_STUDIO_API_KEY in the workspace .env (or the environment); "
                    "with a personal access token, make sure it has not expired",
                ) from None
            raise CdaError(
                f"Label Studio at {self.url} answered HTTP {status} while {what}: "
                f"{_detail(exc.body)}",
                hint="see the server's log (data/labelstudio/server.log for `make labelstudio`)",
            ) from None

    @staticmethod
    def retryable(exc: Exception) -> bool:
        """Whether a failed request may succeed when sent again: a lost connection or a 5xx."""
        status = _status(exc)
        return isinstance(exc, httpx.TransportError) or (status is not None and status >= 500)

    @staticmethod
    def reason(exc: Exception) -> str:
        """A failure in a few words that cannot hold a secret: the status code or error type."""
        status = _status(exc)
        return f"HTTP {status}" if status else type(exc).__name__

    def wait(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, …): exponential back-off."""
        return self.backoff * 2 ** (attempt - 1)


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


def _detail(body: object) -> str:
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "message"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]
