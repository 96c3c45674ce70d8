"""fs-ui: a local web app for the work people do by eye: curate facesets, draw mask polygons, tune the merge
frame by frame and watch training.

:func:`create_app` builds the Starlette app for a :class:`UiConfig` (the facesets, training folders, dst video
and model it may touch); :func:`serve` runs it on 127.0.0.1 with a secret token. Every asset is served from this
package (plain HTML, CSS and JavaScript, no build step, no CDN).
"""

from fs_ui._app import create_app
from fs_ui._config import UiConfig, classify_paths
from fs_ui._server import Server, serve
from fs_ui.errors import UiError

__version__ = "0.1.0"

__all__ = ["Server", "UiConfig", "UiError", "__version__", "classify_paths", "create_app", "serve"]
