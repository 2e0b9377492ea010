"""XMD-Bench: a benchmark harness for cross-modal knowledge distillation."""

import os

# OpenMP threads that busy-wait make torch several times slower whenever another process
# shares the cores (a second bench worker, a test run, the OS); passive waiting costs little when
# the cores are free. It must be set before torch is first imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
