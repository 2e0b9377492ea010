"""timm's pretrained weights: names checked offline, downloads that fail fast.

Why the reachability probe before a timm download: offline, huggingface_hub retries each
of its two candidate files five times with back-off before the error, and a machine whose
network silently drops packets waits for every timeout too. The probe opens one TCP
connection to the hub (or to the proxy the environment names) and gives up after
`PROBE_TIMEOUT` seconds, so an offline run fails in seconds with one line that says what
to do. With `HF_HUB_OFFLINE=1`, huggingface_hub itself makes no request and reads its
cache, so the probe is skipped.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from benchmark.errors import UserError

if TYPE_CHECKING:
    from benchmark.backbones import Backbone

PROBE_TIMEOUT = 5.0  # seconds to wait for a TCP connection to the weights' host


def check_timm_name(name: str) -> str:
    """The name, if timm knows the model and has pretrained weights for it."""
    import timm

    if not timm.is_model(name):
        raise UserError(f"teacher.weights=timm:{name}: unknown timm model; {_suggest(name)}")
    if not _pretrained_tags(name):
        arch = name.partition(".")[0]
        tags = _pretrained_tags(arch)
        hint = f"its weights are {', '.join(tags[:6])}" if tags else _suggest(name)
        raise UserError(f"teacher.weights=timm:{name}: timm has no such pretrained weights; {hint}")
    return name


def _pretrained_tags(name: str) -> list[str]:
    """timm's pretrained names for `name`: itself if it has a tag, else `name.<tag>`."""
    import timm

    if "." in name:
        return [n for n in timm.list_pretrained(name) if n == name]
    return timm.list_pretrained(f"{name}.*")


def _suggest(name: str) -> str:
    """A did-you-mean over timm's pretrained names and their architectures (~2,600
    strings), never the whole list."""
    import difflib

    import timm

    named = timm.list_pretrained()
    choices = sorted({n.partition(".")[0] for n in named}) + named
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return "see timm.list_pretrained() for the names with weights"


def _weights_url(name: str) -> str:
    """Where timm will fetch the model's weights from: the Hugging Face hub, else a URL."""
    import timm
    from huggingface_hub import constants

    cfg = timm.get_pretrained_cfg(name)
    if cfg is not None and cfg.hf_hub_id:
        return constants.ENDPOINT
    if cfg is not None and cfg.url:
        return cfg.url
    return constants.ENDPOINT


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to the URL's host (or the proxy the environment sets for
    it) opens within `timeout` seconds. Name resolution is not bounded by socket timeouts,
    so the attempt runs in a daemon thread that is abandoned when time is up."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = p.hostname or host, p.port or (443 if p.scheme == "https" else 80)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result) and result[0]


def _offline_hint(name: str, offline: bool) -> str:
    saved = (
        f"on a machine with internet, torch.save(timm.create_model('{name}', "
        "pretrained=True).state_dict(), FILE) and pass teacher.weights=FILE (with "
        f"teacher.backbone={name})"
    )
    if offline:
        return saved + ", or fill the Hugging Face cache (HF_HOME) with them"
    return saved + ", or set HF_HUB_OFFLINE=1 with a Hugging Face cache that holds them"


def download(name: str, in_chans: int) -> Backbone:
    """The pretrained model through timm, or a one-line UserError naming the model."""
    from huggingface_hub import constants

    from benchmark.backbones import Backbone

    offline = constants.is_offline_mode()
    url = _weights_url(name)
    failed = f"teacher.weights=timm:{name}: the pretrained weights could not be downloaded"
    if not offline and not reachable(url):
        host = urllib.parse.urlsplit(url).hostname
        raise UserError(
            f"{failed} ({host} unreachable within {PROBE_TIMEOUT:.0f} s); "
            f"{_offline_hint(name, offline)}"
        )
    try:
        return Backbone(name, in_chans, pretrained=True)
    except _download_errors() as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        why = "HF_HUB_OFFLINE=1 and they are not in the Hugging Face cache" if offline else first
        raise UserError(f"{failed} ({why[:160]}); {_offline_hint(name, offline)}") from None


def _download_errors() -> tuple[type[BaseException], ...]:
    """What a failed download raises: huggingface_hub's errors are OSErrors (offline:
    LocalEntryNotFoundError, OfflineModeIsEnabled), torch.hub's URLError too; the HTTP
    client's own transport errors are not, so they are added when it is installed."""
    import importlib

    errors: list[type[BaseException]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)
