"""Training (docs/architecture.md): datasets, the train loop, metrics, run folders, and the worker process.

    from modstudio.engine.client import TrainClient      # train in a spawned worker (GUI, CLI)
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.session import prepare         # in-process: prepare(...) then
    from modstudio.engine.train import Trainer           #   Trainer(session, emit).run()
    from modstudio.engine.data import load_dataset, split_data, BatchStream
    from modstudio.engine.runs import RunFolder
    from modstudio.engine.protocol import Progress, message_from_dict  # the typed worker messages

Importing this package imports nothing heavy: ``client`` and ``settings`` load without
torch, so a GUI or CLI can start a run before torch is loaded in its own process.
"""
