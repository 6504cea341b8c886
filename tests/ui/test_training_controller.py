"""The controller's own rules, with a stand-in client (no worker process): states, commands, and
what happens when the worker cannot start or the polling breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Finished, Message, Paused, Progress, Resumed, Started
from modstudio.ui.app import create_app
from modstudio.ui.files import default_project
from modstudio.ui.training_controller import TrainingController

STARTED = Started(run_folder="runs/1", device="cpu", epochs=1)
PROGRESS = Progress(epoch=1, step=1, steps=2, loss=0.5)


class FakeClient:
    """Plays back a script of message batches, one batch per poll."""

    def __init__(self, batches: list[list[Message]], fail_start: bool = False, fail_poll: bool = False) -> None:
        self.batches = batches
        self.fail_start, self.fail_poll = fail_start, fail_poll
        self.sent: list[str] = []
        self.finished = False
        self.killed = False

    def start(self, project, settings, path) -> None:  # type: ignore[no-untyped-def]
        if self.fail_start:
            raise OSError("no more processes")

    def poll(self, timeout: float = 0.0) -> list[Message]:
        if self.fail_poll:
            raise ValueError("pipe broke")
        batch = self.batches.pop(0) if self.batches else []
        self.finished = any(isinstance(m, Finished) for m in batch)
        return batch

    def exited(self) -> bool:
        return True

    def pause(self) -> None:
        self.sent.append("pause")

    def resume(self) -> None:
        self.sent.append("resume")

    def stop(self) -> None:
        self.sent.append("stop")

    def kill(self) -> None:
        self.killed = True


@pytest.fixture
def loop() -> Iterator[qasync.QEventLoop]:
    create_app([])
    loop = qasync.QEventLoop(QApplication.instance(), already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def run(loop, client: FakeClient) -> tuple[TrainingController, list[Message], list[str], Finished | None]:  # type: ignore[no-untyped-def]
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    messages: list[Message] = []
    states: list[str] = []
    controller.message.connect(messages.append)
    controller.state_changed.connect(states.append)
    project = default_project(default_catalog(), "mlp_2d")

    async def scenario() -> Finished | None:
        task = controller.start(project)
        try:
            return await task
        except ValueError:
            await asyncio.sleep(0.05)  # the done-callback runs on the next turn
            return controller.last_finished

    return controller, messages, states, loop.run_until_complete(scenario())


def test_states_follow_the_worker(loop) -> None:  # type: ignore[no-untyped-def]
    batches = [
        [STARTED],
        [Paused(step=0)],
        [Resumed(step=0)],
        [PROGRESS, Finished(status="completed")],
    ]
    controller, messages, states, finished = run(loop, FakeClient(batches))
    assert states == ["starting", "running", "paused", "running", "idle"]
    assert [m.type for m in messages] == ["started", "paused", "resumed", "progress", "finished"]
    assert finished == Finished(status="completed")
    assert not controller.busy


def test_a_worker_that_cannot_start_is_reported_and_nothing_is_left_running(loop) -> None:  # type: ignore[no-untyped-def]
    _controller, messages, states, finished = run(loop, FakeClient([], fail_start=True))
    assert finished.status == "failed" and "no more processes" in finished.error
    assert [m.type for m in messages] == ["error", "finished"]
    assert states[-1] == "idle"


def test_broken_polling_kills_the_worker_and_frees_the_ui(loop) -> None:  # type: ignore[no-untyped-def]
    client = FakeClient([], fail_poll=True)
    controller, messages, _states, finished = run(loop, client)
    assert client.killed
    assert controller.state == "idle"
    assert finished is not None and "lost contact" in finished.error
    assert [m.type for m in messages] == ["error", "finished"]


def test_commands_reach_the_worker_only_in_the_right_state() -> None:
    create_app([])
    client = FakeClient([])
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    controller.client = client  # type: ignore[assignment]
    controller.pause()  # idle: nothing to pause
    assert client.sent == []
    controller.resume()  # not paused: nothing to resume
    assert client.sent == []
    controller.state = "running"
    controller.pause()
    assert controller.state == "pausing"  # until the worker says paused, after its current step
    controller.pause()  # on its way already: not sent twice
    controller._dispatch(Paused(step=0))
    controller.resume()
    controller.stop()
    assert client.sent == ["pause", "resume", "stop"]
    assert controller.state == "stopping"
    controller._dispatch(Resumed(step=0))  # a stopping run stays stopping
    assert controller.state == "stopping"
    controller._stop_timer.stop()


def test_pause_pressed_while_the_worker_starts_goes_into_its_pipe_at_once() -> None:
    """The process exists but the worker is still importing torch: the pause waits in its command pipe and
    is the first thing it reads between steps, so it pauses before its first step."""
    create_app([])
    client = FakeClient([])
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    controller.client, controller.state = client, "starting"  # type: ignore[assignment]
    controller.pause()
    assert controller.state == "pausing" and client.sent == ["pause"] and not controller.pause_waiting
    controller._dispatch(STARTED)
    assert controller.state == "pausing"  # 'started' does not make it look running while the pause is on its way
    controller._dispatch(Paused(step=0))
    assert controller.state == "paused"
    controller.resume()
    controller._dispatch(Resumed(step=0))
    assert client.sent == ["pause", "resume"] and controller.state == "running"


def test_pause_pressed_before_the_process_exists_goes_with_its_start(loop) -> None:  # type: ignore[no-untyped-def]
    client = FakeClient([[STARTED], [Paused(step=0)], [], [Finished(status="stopped")]])
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    states: list[str] = []
    controller.state_changed.connect(states.append)
    task = controller.start(default_project(default_catalog(), "mlp_2d"))
    controller.pause()  # run() has not made the client yet
    assert controller.pause_waiting and client.sent == []
    finished = loop.run_until_complete(task)
    assert client.sent == ["pause"] and finished.status == "stopped"
    assert states[:3] == ["starting", "pausing", "paused"]  # never 'running' in between


def test_a_waiting_pause_can_be_taken_back_before_the_process_exists() -> None:
    create_app([])
    client = FakeClient([])
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    controller.state = "starting"  # start() ran; run() has not made the client yet
    controller.pause()
    controller.resume()
    assert controller.state == "starting" and not controller.pause_waiting
    controller.client = client  # type: ignore[assignment]
    controller._dispatch(STARTED)
    assert controller.state == "running" and client.sent == []


def test_stop_pressed_before_the_process_exists_reaches_it(loop) -> None:  # type: ignore[no-untyped-def]
    client = FakeClient([[STARTED], [Finished(status="stopped")]])
    controller = TrainingController(client_factory=lambda: client)  # type: ignore[arg-type,return-value]
    states: list[str] = []
    controller.state_changed.connect(states.append)
    task = controller.start(default_project(default_catalog(), "mlp_2d"))
    controller.stop()  # run() has not made the client yet
    finished = loop.run_until_complete(task)
    assert client.sent == ["stop"] and finished.status == "stopped"
    assert states == ["starting", "stopping", "idle"]  # 'started' did not make it look running again
