"""What ``modstudio train`` prints: a progress bar on stderr, a line per epoch, a final summary.

Every text is the message's ``describe()`` (:mod:`modstudio.engine.protocol`), the same the window shows."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from modstudio.engine.protocol import Epoch, Error, Finished, Message, Progress, Started, Warning


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


class TrainConsole:
    """Turns worker messages into terminal output; the bar goes to stderr, the lines to ``out``.

    ``bar=None`` shows the bar only when stderr is a terminal: a log file gets the epoch lines,
    not hundreds of carriage-return updates."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, bar: bool | None = True) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.show_bar = _is_terminal(self.err) if bar is None else bar
        self.bar: tqdm | None = None

    def handle(self, message: Message) -> None:
        match message:
            case Started(run_folder=folder):
                self._line(f"{message.describe()}; run folder {folder}")
            case Progress():
                self._progress(message)
            case Epoch():
                self._close_bar()
                self._line(message.describe())
            case Warning():
                self._close_bar()
                print(f"warning: {message.describe()}", file=self.err)
            case Error():
                self._close_bar()
                print(f"error: {message.describe()}", file=self.err)
            case Finished(status="failed", run_folder=folder):
                self._close_bar()
                self._line(f"training failed{'' if folder is None else f'; run folder {folder}'}")
            case Finished(run_folder=folder):
                self._close_bar()
                self._line(f"{message.describe()}; run folder {folder}")
            case _:  # usage, checkpoints, live views: nothing to print
                pass

    def _progress(self, message: Progress) -> None:
        """The bar's text is the message's ``describe()``; the bar itself shows the share of the epoch done."""
        if not self.show_bar:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=message.steps,
                file=self.err,
                leave=False,
                unit="step",
                bar_format="{desc} |{bar}| {elapsed}<{remaining}",
            )
        self.bar.update(max(0, message.step - self.bar.n))
        self.bar.set_description_str(message.describe(), refresh=False)
        self.bar.refresh()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)
