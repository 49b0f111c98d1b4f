"""Share an accepted model on the Hugging Face Hub (``flywheel train ... --push-to-hub REPO``).

Only a model that passed the dev gate is pushed, after it was saved locally: the Hub copy is a
publication of the run folder's ``model/``, never the only copy. Offline (the default here,
``HF_HUB_OFFLINE=1``) or without a login the push fails with one line that says what to do;
the local model is kept either way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flywheel.errors import ProviderError

logger = logging.getLogger(__name__)


def push_to_hub(model_dir: str | Path, repo_id: str, *, private: bool = True) -> str:
    """Upload ``model_dir`` to ``repo_id`` (created if missing, private by default); returns
    the repository's URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(model_dir), repo_id=repo_id)
    except OfflineModeIsEnabled:
        raise ProviderError(
            f"cannot push to the Hub ({repo_id}): offline mode is on; set "
            "FLYWHEEL_ALLOW_NETWORK=1 (and HF_HUB_OFFLINE=0) where the network allows, log in "
            f"with `hf auth login`; the model is kept at {model_dir}"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProviderError(
            f"cannot push to the Hub ({repo_id}): {reason}; check the network and your login "
            f"(`hf auth login`); the model is kept at {model_dir}"
        ) from None
    logger.info("pushed %s to %s", model_dir, url)
    return str(url)
