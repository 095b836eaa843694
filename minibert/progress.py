"""Progress of a long loop: a tqdm bar on stderr when tqdm is installed, printed lines otherwise.

    progress = Progress(total, "epoch 1/3", unit="batch")
    progress.update(n, postfix="loss 0.6931  lr 5.00e-05")   # the bar moves n; postfix on the bar
    progress.close()

Without a bar (tqdm missing, or use_tqdm=False) the last postfix is printed as one line when the
loop ends (`close`), and `update(..., line=...)` prints its line at once, for loops that log as
they go. Lines go to `stream` ("stderr" or "stdout"). A disabled Progress (every process but
rank 0) shows nothing.
"""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, description: str, *, enabled: bool = True, use_tqdm: bool = True,
                 start: int = 0, unit: str = "batch", stream: str = "stderr"):
        self.enabled, self.description, self.postfix, self.stream = enabled, description, "", stream
        self.bar = None
        if enabled and use_tqdm:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=start, desc=description, unit=unit, leave=True,
                                dynamic_ncols=True, file=sys.stderr)
            except ImportError:
                pass

    def update(self, n: int = 1, postfix: str | None = None, *, line: str | None = None) -> None:
        """Advance by n; show `postfix` beside the bar (without a bar: print `line`, if given)."""
        if postfix is not None:
            self.postfix = postfix
            if self.bar is not None:
                self.bar.set_postfix_str(postfix, refresh=False)
        if self.bar is None and line is not None:
            self._print(line)
        if self.bar is not None and n:
            self.bar.update(n)

    def write(self, message: str) -> None:
        """A line of its own (above the bar, when there is one)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            self._print(message)

    def close(self, summary: bool = True) -> None:
        """Close the bar; without one, print the last postfix as a summary line."""
        if self.bar is not None:
            self.bar.close()
        elif summary and self.postfix:
            self._print(f"{self.description}: {self.postfix}")

    def _print(self, message: str) -> None:
        if self.enabled:
            print(message, file=getattr(sys, self.stream), flush=True)
