"""One intra-op thread for the model tests.

These tests run many tiny forward passes; with two OpenMP threads on a busy 2-core machine
the threads spin-wait for each other and the folder ran 4x slower (72 s against 16 s for
the one-step training tests). One thread is also what the fx/eager comparison needs.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
