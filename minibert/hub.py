"""Finding model files: a local directory, or a Hugging Face Hub id through `huggingface_hub`.

Everything that turns a user's `name_or_path` into files on disk goes through here, so the
model, the heads and the tokenizer all accept the same things and fail with the same clear
message when the Hub cannot be reached.
"""

from __future__ import annotations

import os
from pathlib import Path


class ModelNotFoundError(OSError):
    """`name_or_path` is neither a usable local directory nor a reachable Hub model."""


def is_local(name_or_path: str | os.PathLike) -> bool:
    return Path(name_or_path).is_dir()


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    required: bool = True,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> Path | None:
    """Return the local path of `filename` from a directory or a Hub repository.

    A directory is used as it is. Anything else is taken as a Hub id (`"bert-base-uncased"`,
    `"org/name"`) and resolved with `huggingface_hub.hf_hub_download`, which reads and fills
    the usual Hub cache and honours `HF_HUB_OFFLINE`. With `required=False` a file the
    repository does not have gives `None`; every other failure raises `ModelNotFoundError`
    with one message that says what to pass instead.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise TypeError(
            f"expected a model directory or a Hub id such as 'bert-base-uncased', got {name_or_path!r}"
        )
    path = Path(name_or_path)
    if path.is_dir():
        candidate = path / filename
        if candidate.is_file():
            return candidate
        if required:
            present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
            raise ModelNotFoundError(
                f"{path} has no {filename} (it holds: {present}). "
                "Pass a directory written by save_pretrained or downloaded from the Hub."
            )
        return None
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file, not a model directory: pass the directory that holds it.")
    if _looks_like_a_path(str(name_or_path)):
        raise ModelNotFoundError(
            f"{name_or_path} does not exist. Pass an existing model directory, or a Hub id such as 'bert-base-uncased'."
        )
    return _download(str(name_or_path), filename, required, cache_dir, revision, token, local_files_only)


def _looks_like_a_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything with more parts or a leading ./ ~ / is a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _download(repo_id, filename, required, cache_dir, revision, token, local_files_only) -> Path | None:
    import huggingface_hub
    from huggingface_hub import errors

    unreachable = None if local_files_only else _hub_unreachable()
    if unreachable:
        # Use the cache only: huggingface_hub would otherwise retry for half a minute, printing
        # a line per retry, before reaching the same conclusion.
        local_files_only = True
    try:
        return Path(
            huggingface_hub.hf_hub_download(
                repo_id,
                filename,
                cache_dir=cache_dir,
                revision=revision,
                token=token,
                local_files_only=local_files_only,
                library_name="minibert",
            )
        )
    except errors.RemoteEntryNotFoundError:
        if required:
            raise ModelNotFoundError(f"the Hub repository {repo_id!r} has no file {filename!r}.") from None
        return None
    except errors.LocalEntryNotFoundError as exc:
        # Offline (HF_HUB_OFFLINE=1 or no network) and not in the cache. A file that the cache
        # lacks although the repo's snapshot is cached may simply not exist upstream.
        if not required and _snapshot_is_cached(repo_id, cache_dir, revision):
            return None
        raise ModelNotFoundError(
            f"could not load {repo_id!r}: it is not a local directory, it is not in the Hugging Face "
            f"cache, and the Hub cannot be reached ({unreachable or _first_line(exc)}). Pass the path of a local "
            "model directory (one written by save_pretrained, or a downloaded Hub snapshot), or run "
            "once with network access so that the cache is filled."
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.HFValidationError) as exc:
        raise ModelNotFoundError(
            f"{repo_id!r} is not a local directory and not a model on the Hugging Face Hub "
            f"({_first_line(exc)}). Check the spelling, or pass the path of a local model directory."
        ) from None
    except (errors.HfHubHTTPError, OSError) as exc:
        raise ModelNotFoundError(
            f"could not download {filename!r} of {repo_id!r} from the Hugging Face Hub ({_first_line(exc)}). "
            "Pass the path of a local model directory, or retry when the Hub is reachable."
        ) from None


# endpoint -> (time of the check, why it cannot be reached or None): one check a minute at most.
_REACHABILITY: dict[str, tuple[float, str | None]] = {}


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hub endpoint cannot be reached, or None: one TCP connection with a short
    timeout. `HF_HUB_OFFLINE=1` says so without trying. Behind a proxy the endpoint is not
    dialled directly, so the check is left to huggingface_hub."""
    import socket
    import time
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = constants.ENDPOINT
    checked = _REACHABILITY.get(endpoint)
    if checked is not None and time.monotonic() - checked[0] < 60:
        return checked[1]
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        reason = None
    except OSError as exc:
        reason = f"no connection to {url.hostname}:{port}: {exc.strerror or exc}"
    _REACHABILITY[endpoint] = (time.monotonic(), reason)
    return reason


def _snapshot_is_cached(repo_id: str, cache_dir, revision: str | None) -> bool:
    from huggingface_hub import constants

    root = Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    return (root / "refs" / (revision or "main")).is_file() or (root / "snapshots").is_dir()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
