"""XMD-Bench: a benchmark harness for cross-modal knowledge distillation."""

__version__ = "0.1.0"
