"""fs-train: the training loop for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #8.
"""

from fs_train.errors import TrainError

__version__ = "0.1.0"

__all__ = ["TrainError", "__version__"]
