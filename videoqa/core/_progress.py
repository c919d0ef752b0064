"""Progress of long work on a terminal: a tqdm bar on stderr per pass, silent otherwise.

``Session(..., progress=None)`` shows it when stderr is a terminal (``True`` forces it, ``False``
silences it; ``videoqa analyze --quiet``). A bar counts the windows of a pass decoded and encoded
(``coarse pass: windows 3/9 [00:41<01:22]``: elapsed and expected time), the grounding search
shows its rounds and the fine looks checked so far. ``videoqa eval`` shows the items answered
(``eval: items answered 40/120``). Nothing is printed when disabled, and nothing here changes an
answer.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """Bars of one session; ``enabled=None``: only when ``stream`` (stderr) is a terminal."""

    def __init__(self, enabled: bool | None = None, *, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.label = "pass"

    def stage(self, label: str) -> None:
        """Name the pass whose windows come next (``coarse pass``, ``fine pass``...)."""
        self.label = label

    def bar(self, total: int, *, unit: str = "window", done: str = "decoded+encoded") -> Any:
        """A bar of ``total`` steps under the current label (a no-op object when disabled)."""
        if not self.enabled or total <= 0:
            return _Silent()
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{self.label}: {unit}s {done}", unit=unit, file=self.stream)

    def update_search(self, round_index: int, looks: int) -> None:
        """One round of the grounding search done; ``looks`` fine windows checked so far."""
        if self.enabled:
            self.stream.write(f"search round {round_index}: {looks} fine looks checked\n")
            self.stream.flush()


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
