"""Where a method runs, for its reference page: per track, on image and on token-sequence
targets, decided by `benchmark.tracks.not_applicable` at the parameters the plan gives
the method in that track (`benchmark.execution.plan.method_params`), so the page says
what a run records."""

from __future__ import annotations

from benchmark.config.schema import RunConfig
from benchmark.docs.markdown import code, table
from benchmark.method import Method, create_method, load_methods
from benchmark.tracks import LABELLED, TRACKS, is_label_free, not_applicable, with_track


def verdict(name: str, track: str, sequence_target: bool) -> str:
    """'runs', or 'not applicable: <the runner's reason>'."""
    from benchmark.execution.plan import method_params

    cfg = RunConfig()
    method = create_method(name, **method_params(cfg, name, track))
    label_free = is_label_free(with_track(cfg, track))
    why = not_applicable(method, sequence_target=sequence_target, label_free=label_free)
    return "runs" if why is None else f"not applicable: {why}"


def tracks_table(name: str) -> str:
    rows = [(t, verdict(name, t, False), verdict(name, t, True)) for t in TRACKS]
    return table(("Track", "Image targets", "Token-sequence targets (text)"), rows)


def labelled_text(cls: type[Method]) -> str:
    """The labelled track's weights: the parameters it changes and the cross-entropy's γ."""
    from benchmark.protocol.labelled import ce_weight, labelled_params

    params = labelled_params(cls, {})
    changed = [f"{code(f'{k} = {params[k]!r}')}" for k in sorted(cls.labelled_defaults)]
    gamma = ce_weight(cls, params)
    weights = ", ".join(changed) if changed else "the declared defaults"
    return f"{weights}; cross-entropy weight γ = {gamma!r}"


__all__ = ["LABELLED", "labelled_text", "load_methods", "tracks_table", "verdict"]
