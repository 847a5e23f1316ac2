"""cnn-explorer: look inside the classic convolutional networks.

Importing this package imports neither Qt nor torch, so the window can appear before
the heavy libraries finish loading.
"""

__version__ = "0.1.0"
