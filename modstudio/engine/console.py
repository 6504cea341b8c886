"""What ``modstudio train`` prints: a progress bar on stderr, a line per epoch, a final summary."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

Message = dict[str, Any]


def _number(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


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
        self.epochs = 0

    def handle(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "started":
            self.epochs = message["epochs"]
            samples = message["samples"]
            self._line(
                f"training on {message['device']} ({message['precision']}): {message['dataset']} "
                f"{samples['train']}/{samples['val']}/{samples['test']} train/val/test samples, "
                f"{message['parameters']:,} parameters, {message['epochs']} epochs; run folder {message['run_folder']}"
            )
        elif kind == "progress":
            self._progress(message)
        elif kind == "epoch":
            self._close_bar()
            metric = "acc" if message.get("val_r2") is None else "R²"
            val_metric = message.get("val_accuracy") if metric == "acc" else message.get("val_r2")
            train_acc = message.get("train_accuracy")
            train_part = f"train loss {_number(message['train_loss'])}" + (
                "" if train_acc is None else f" acc {train_acc:.4f}"
            )
            self._line(
                f"epoch {message['epoch']}/{message['epochs']}: {train_part}, val loss "
                f"{_number(message.get('val_loss'))} {metric} {_number(val_metric)} ({message['seconds']:.1f} s)"
            )
        elif kind == "warning":
            self._close_bar()
            print(f"warning: {message['message']}", file=self.err)
        elif kind == "error":
            self._close_bar()
            print(f"error: {message['message']}", file=self.err)
        elif kind == "finished":
            self._close_bar()
            self._summary(message)

    def _progress(self, message: Message) -> None:
        if not self.show_bar:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=message["steps"],
                desc=f"epoch {message['epoch']}/{self.epochs}",
                file=self.err,
                leave=False,
                unit="step",
            )
        self.bar.update(max(0, message["step"] - self.bar.n))
        self.bar.set_postfix(loss=f"{message['loss']:.4f}", refresh=False)
        self.bar.refresh()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _summary(self, message: Message) -> None:
        status = message.get("status")
        if status == "failed":
            where = message.get("run_folder")
            self._line(f"training failed{'' if where is None else f'; run folder {where}'}")
            return
        if message.get("test_accuracy") is not None:
            score = f"test accuracy {message['test_accuracy']:.4f}"
        elif message.get("test_r2") is not None:
            score = f"test R² {message['test_r2']:.4f}"
        else:
            score = "no test split"
        words = {
            "completed": "done",
            "early_stopped": "stopped early (no better validation loss)",
            "stopped": "stopped",
        }
        nmi = message.get("routing_nmi") or {}
        extra = "".join(f", routing NMI {path or 'net'} {value:.3f}" for path, value in nmi.items())
        self._line(
            f"{words.get(status, status)}: {score} after {message['epochs']} epochs "
            f"({message['seconds']:.1f} s){extra}; run folder {message['run_folder']}"
        )
