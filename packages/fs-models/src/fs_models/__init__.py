"""fs-models: autoencoder and CGAN architectures, registry and checkpoints for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #7.
"""

from fs_models.errors import ModelError

__version__ = "0.1.0"

__all__ = ["ModelError", "__version__"]
