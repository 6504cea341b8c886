"""The editor: Qt only lives here (PySide6 + qasync). Start it with :func:`modstudio.ui.app.run`."""
