"""ModStudio: a desktop studio for modular deep learning."""

__version__ = "0.1.0"
