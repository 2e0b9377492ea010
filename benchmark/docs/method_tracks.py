"""Where a method runs, for its reference page: per track, on image and on token-sequence
targets, decided by `benchmark.tracks.not_applicable` at the parameters the plan gives
the method in that track (`benchmark.execution.plan.method_params`), so the page says
what a run records."""

from __future__ import annotations

from benchmark.config.schema import RunConfig
from benchmark.docs.markdown import code, table
from benchmark.method import Method, create_method
from benchmark.tracks import TRACKS, is_label_free, not_applicable, with_track


def reason(name: str, track: str, sequence_target: bool) -> str | None:
    """Why the method cannot run in `track` on such a target (None when it can): the
    runner's reason, at the parameters the plan gives it there."""
    from benchmark.execution.plan import method_params

    cfg = RunConfig()
    method = create_method(name, **method_params(cfg, name, track))
    label_free = is_label_free(with_track(cfg, track))
    return not_applicable(method, sequence_target=sequence_target, label_free=label_free)


def tracks_table(name: str) -> str:
    """Per track, 'runs' or 'not applicable (n)' on image and on text targets; each
    distinct reason once, numbered, under the table."""
    reasons: list[str] = []

    def verdict(track: str, sequence_target: bool) -> str:
        why = reason(name, track, sequence_target)
        if why is None:
            return "runs"
        if why not in reasons:
            reasons.append(why)
        return f"not applicable ({reasons.index(why) + 1})"

    rows = [(t, verdict(t, False), verdict(t, True)) for t in TRACKS]
    header = ("Track", "Image targets", "Token-sequence targets (text)")
    notes = [f"({i}) {why}." for i, why in enumerate(reasons, 1)]
    return "\n\n".join([table(header, rows), *notes])


def labelled_text(cls: type[Method]) -> str:
    """The labelled track's weights: the parameters it changes and the cross-entropy's γ."""
    from benchmark.protocol.labelled import ce_weight, labelled_params

    params = labelled_params(cls, {})
    changed = [f"{code(f'{k} = {params[k]!r}')}" for k in sorted(cls.labelled_defaults)]
    gamma = ce_weight(cls, params)
    weights = ", ".join(changed) if changed else "the declared defaults"
    return f"{weights}; cross-entropy weight γ = {gamma!r}"
