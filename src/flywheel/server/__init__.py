"""The capture server: a FastAPI app over the store (event API, search, feedback page).

Needs the ``server`` extra (FastAPI, uvicorn): ``pip install 'rag-flywheel[server]'``.
"""

from flywheel.server.app import ServeConfig, app_from_env, create_app
from flywheel.server.engine import RetrieverConfig, SearchEngine

__all__ = ["RetrieverConfig", "SearchEngine", "ServeConfig", "app_from_env", "create_app"]
