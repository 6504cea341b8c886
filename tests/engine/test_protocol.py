"""The typed worker messages: JSON form round trips, a real run's pipe and files, unreadable records, texts."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from modstudio.engine import protocol
from modstudio.engine.client import TrainClient, _typed
from modstudio.engine.console import TrainConsole
from modstudio.engine.protocol import (
    Checkpoint,
    Epoch,
    Error,
    Finished,
    Gradients,
    Histogram,
    ModuleStatistics,
    Paused,
    Progress,
    ProtocolError,
    Regions,
    Resumed,
    Routing,
    Started,
    Statistics,
    Test,
    Usage,
    Warning,
    message_from_dict,
    messages_from_dicts,
)
from modstudio.engine.runs import RunFolder, jsonable
from modstudio.engine.settings import TrainSettings

from .conftest import small_mlp

FINISHED = Finished(
    status="completed", epochs=3, steps=30, run_folder="runs/a", seconds=2.5, task="classification", test_loss=0.2,
    test_accuracy=0.91, best_val_loss=0.25, routing_nmi={"moe": 0.5},
)  # fmt: skip
EXAMPLES = [
    Started(
        run_folder="runs/a",
        device="cpu",
        epochs=3,
        dataset="moons",
        samples={"train": 8, "val": 1, "test": 1},
        parameters=1234,
        probes=("moe",),
        seed=0,
        probe_layout={"moe": {"kind": "moe", "num_experts": 4}},
        modules=("moe", "head"),
        regions=True,
    ),
    Progress(epoch=1, step=3, steps=10, loss=0.5, global_step=3, accuracy=0.75, samples_per_second=1000.0),
    Epoch(
        epoch=1,
        epochs=3,
        train_loss=0.5,
        step=10,
        train_accuracy=0.8,
        val_loss=0.6,
        val_accuracy=0.7,
        lr=0.01,
        seconds=1.5,
        aux_losses={"load_balance": 0.01},
    ),
    Usage(epoch=1, samples_per_second=900.0, memory_mb=120.0, device="cpu"),
    Paused(step=4),
    Resumed(step=4),
    Checkpoint(path="runs/a/last.safetensors", epoch=1, step=10, best=True),
    Routing(probes={"moe": {"tokens_per_expert": [3, 2, 0, 5], "steps": 1}}, kind="train", epoch=1, step=10),
    Gradients(norms={"moe": 0.5, "head": 0.25}, epoch=1, step=10),
    Regions(
        extent=(0.0, 1.0, -1.0, 1.0),
        size=2,
        epoch=1,
        step=10,
        predicted=[[0, 1], [1, 0]],
        experts={"moe": [[0, 0], [1, 1]]},
        points=[[0.5, 0.5]],
        labels=[1],
    ),
    Statistics(
        step=50,
        epoch=1,
        bins=2,
        modules={
            "fc": ModuleStatistics(weights=Histogram(-1.0, 1.0, (3.0, 4.0)), update_ratio=0.001),
            "act": ModuleStatistics(activations=Histogram(0.0, 2.0, (5.0, 1.0), nonfinite=2), dead_share=0.25),
        },
    ),
    Warning(message="expert 2 received no tokens", kind="collapse", step=10, path="moe"),
    Error(message="the loss became nan at step 11", kind="nan", step=11),
    FINISHED,
    Test.of(FINISHED),
]


def test_every_message_type_has_an_example_here():
    assert {type(m) for m in EXAMPLES} == set(protocol.MESSAGE_TYPES.values())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_message_survives_its_json_form(message):
    data = json.loads(json.dumps(message.to_dict()))
    assert data["type"] == message.type
    assert message_from_dict(data) == message


def test_a_finished_and_its_test_line_differ_only_in_type():
    assert Test.of(FINISHED).to_dict() == {**FINISHED.to_dict(), "type": "test"}
    assert message_from_dict(Test.of(FINISHED).to_dict()) != FINISHED  # matching on Finished never sees test lines


def test_every_failure_ends_the_same_way():
    failed = Finished.failed("out of memory", "oom", run_folder="runs/a", steps=3)
    assert failed.to_dict() == {**Finished(status="failed").to_dict(), "error": "out of memory", "kind": "oom",
                                "run_folder": "runs/a", "steps": 3}  # fmt: skip
    assert failed.describe() == "training failed: out of memory"


def test_an_old_run_folders_lines_still_read():
    """Lines as run folders written before the typed protocol hold them (fewer keys; extra keys are ignored)."""
    old = [
        {"type": "progress", "epoch": 1, "step": 3, "steps": 9, "loss": 0.7},
        {"type": "epoch", "epoch": 1, "epochs": 2, "train_loss": 0.5, "seconds": 1.0},
        {"type": "test", "status": "completed", "epochs": 2, "steps": 18, "test_accuracy": 0.9, "dataset": "moons"},
        {"type": "routing", "step": 5, "probes": {"moe": {"tokens": [1, 2]}}},
    ]
    messages, skipped = messages_from_dicts(old)
    assert skipped == []
    assert [m.type for m in messages] == ["progress", "epoch", "test", "routing"]
    assert messages[0].global_step is None and messages[1].val_loss is None and messages[2].test_accuracy == 0.9


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"type": "start", "val_loss": 1.0}, "unknown message type 'start'"),
        ({"epoch": 1}, "unknown message type None"),
        ({"type": "progress", "epoch": 1, "step": 2}, "the 'progress' message lacks 'steps'; lacks 'loss'"),
        ({"type": "epoch", "epoch": "two", "epochs": 3, "train_loss": 0.5}, "the 'epoch' message has a wrong 'epoch'"),
        (["progress"], "a message is a JSON object, not list"),
    ],
)
def test_a_record_that_is_not_a_message_is_a_clear_error(record, reason):
    with pytest.raises(ProtocolError) as caught:
        message_from_dict(record)
    assert str(caught.value).startswith(reason)


def test_unreadable_records_are_skipped_with_their_reason():
    records = [EXAMPLES[1].to_dict(), {"type": "progress", "step": 3}, {"type": "nonsense"}, EXAMPLES[2].to_dict()]
    messages, skipped = messages_from_dicts(records)
    assert messages == [EXAMPLES[1], EXAMPLES[2]]
    assert skipped == [
        "record 2 skipped: the 'progress' message lacks 'epoch'; lacks 'steps'; lacks 'loss'",
        f"record 3 skipped: unknown message type 'nonsense' (known: {', '.join(sorted(protocol.MESSAGE_TYPES))})",
    ]


def test_a_message_the_client_cannot_read_becomes_a_warning_the_console_prints():
    message = _typed({"type": "telemetry", "step": 3})
    assert isinstance(message, Warning) and message.kind == "protocol"
    err = io.StringIO()
    TrainConsole(out=io.StringIO(), err=err, bar=False).handle(message)
    assert err.getvalue().startswith("warning: a message from the training process was not understood: unknown")


def test_the_console_prints_each_messages_describe_text():
    out, err = io.StringIO(), io.StringIO()
    console = TrainConsole(out=out, err=err, bar=True)
    started, progress, epoch = EXAMPLES[0], EXAMPLES[1], EXAMPLES[2]
    for message in (started, progress, epoch, FINISHED):
        console.handle(message)
        if message is progress:
            assert console.bar is not None and console.bar.desc == progress.describe()
    assert out.getvalue().splitlines() == [
        f"{started.describe()}; run folder runs/a",
        epoch.describe(),
        f"{FINISHED.describe()}; run folder runs/a",
    ]
    assert epoch.describe() == "epoch 1/3: train loss 0.5000 acc 0.8000, val loss 0.6000 acc 0.7000 (1.5 s)"
    assert FINISHED.describe() == "done: test accuracy 0.9100 after 3 epochs (2.5 s), routing NMI moe 0.500"
    assert progress.describe() == "epoch 1 · step 3/10 · loss 0.5000 · accuracy 0.7500 · 1,000 samples/s"


def test_a_real_run_sends_and_stores_messages_that_read_back(tmp_path):
    client = TrainClient()
    client.start(small_mlp(epochs=2), TrainSettings(runs_root=str(tmp_path), routing_period=0.0))
    messages = client.wait(120)
    kinds = {m.type for m in messages}
    assert {"started", "progress", "epoch", "usage", "checkpoint", "gradients", "regions", "finished"} <= kinds
    for message in messages:  # what came through the pipe is what its JSON form gives back
        again = message_from_dict(json.loads(json.dumps(jsonable(message.to_dict()))))
        if isinstance(message, Regions):  # arrays come back as lists
            assert np.array_equal(np.asarray(again.predicted), message.predicted)
        else:
            assert again == message
    finished = messages[-1]
    assert isinstance(finished, Finished) and finished.status == "completed"
    folder = RunFolder(finished.run_folder)
    stored, skipped = messages_from_dicts(folder.read_lines("metrics.jsonl"))
    assert skipped == []
    assert [m for m in stored if isinstance(m, Epoch)] == [m for m in messages if isinstance(m, Epoch)]
    assert stored[-1] == Test.of(finished)
    routing, skipped = messages_from_dicts(folder.read_lines("routing.jsonl"))
    assert skipped == [] and all(isinstance(m, Routing) for m in routing)


def test_the_protocol_loads_without_torch_or_qt():
    code = (
        "import sys\n"
        "import modstudio.engine.protocol\n"
        "heavy = sorted(m for m in ('torch', 'PySide6') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
