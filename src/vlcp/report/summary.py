"""The report's summary paragraph: what the method did in this run, from the settings each stage saved,
each part in its own words (a sampler's ``describe_settings``, a protocol's ``description``), and where the
distilled set stands against the baselines and the whole training set."""
from __future__ import annotations

from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.evaluate.results import FULL_METHOD, ResultRow, ResultTable
from vlcp.report.gather import caption_count, data_description, is_baseline, stage_settings
from vlcp.report.markup import Section, e, note


def sampler_sentence(syn: dict) -> str:
    """How the run's sampler made each image, in the sampler's own words (``SamplerSettings.describe_settings``;
    a sampler that gives none: a sentence naming it), then where it started from."""
    from vlcp.samplers import SAMPLERS

    name = syn.get("sampler", "img2img")
    try:
        how = SAMPLERS.get(name).Settings.describe_settings(syn)
    except (VlcpError, TypeError, AttributeError):
        how = ""
    how = how or f"went through sampler {name!r}"
    start = syn.get("start", "centre")
    if start == "medoid":
        how += ", starting from the real latent nearest the centre (medoid)"
    elif start == "mix":
        how += f", starting from {syn.get('start_mix', '?')} × medoid + the rest × centre"
    return how


def protocol_sentence(protocol: str) -> str:
    """The protocol in its own words (``Protocol.description``): one sentence, '' when it has none."""
    from vlcp.evaluate.protocols import PROTOCOLS

    description = PROTOCOLS.get(protocol).description if protocol in PROTOCOLS else ""
    return f"Protocol {protocol}: {description}." if description else ""


def _is_folder(source: object, folder: Path) -> bool:
    """True when a row's recorded ``source`` is ``folder`` (a resolved path)."""
    try:
        return isinstance(source, str) and Path(source).resolve() == folder
    except (OSError, ValueError):  # not a path (a description, a NUL byte)
        return False


def _headline(rows: list[ResultRow], run_dir: Path) -> ResultRow:
    """The distilled-set row the summary speaks of: the run's own ``distilled/`` folder first, then the
    first registered protocol, then the best mean."""
    from vlcp.evaluate.protocols import PROTOCOLS

    order = {p: i for i, p in enumerate(PROTOCOLS.in_order())}
    own = (run_dir / "distilled").resolve()

    def rank(r: ResultRow) -> tuple:
        return (_is_folder(r.settings.get("source"), own), -order.get(r.protocol, len(order)), r.mean)

    return max(rows, key=rank)


def standing(rows: list[ResultRow], run_dir: Path) -> str:
    """The distilled set against the best baseline and the whole training set at one table line, in words,
    then that line's protocol in its own words."""
    distilled = [r for r in rows if not is_baseline(r)]
    if not distilled:
        return "No evaluation of the distilled set yet."
    r = _headline(distilled, run_dir)
    table = ResultTable.of(rows)
    line = next(x for x in table.lines if (x.ipc, x.model, x.protocol) == (r.ipc, r.model, r.protocol))
    text = f"At IPC {r.ipc} ({r.model}, {r.protocol}) the distilled set ({r.method}) scores {r.mean:.1f} %"
    others = [x for x in line.cells.values() if is_baseline(x) and x.method != FULL_METHOD]
    if others:
        best = max(others, key=lambda x: x.mean)
        gap, noise = r.mean - best.mean, max(r.std, best.std)
        verdict = "within one std of" if abs(gap) <= noise else ("above" if gap > 0 else "below")
        text += f", {verdict} the best baseline, {best.method} ({best.mean:.1f} %)"
    whole = table.full.get((r.model, r.protocol))
    if whole:
        text += f"; the whole training set reaches {whole.mean:.1f} %"
    return " ".join(t for t in (text + ".", protocol_sentence(r.protocol)) if t)


def summary(run_dir: Path, rows: list[ResultRow]) -> Section:
    """One paragraph: what the method did in this run, from the files each stage left, and where it stands."""
    st, notes = stage_settings(run_dir)
    cap, proto, syn = st.get("caption", {}), st.get("prototypes", {}), st.get("synthesize", {})
    n_caps = caption_count(run_dir)
    parts = [f"Data: {data_description(run_dir, rows)}."]
    if n_caps:
        parts.append(f"A captioner ({cap.get('captioner', 'unknown')}) described each of the {n_caps:,} training "
                     "images; the generator's VAE encoded them.")
    if proto:
        parts.append(f"Per class, LOF removed outliers and k-means (k = {proto.get('ipc', '?')}) clustered the "
                     f"latents into image prototypes; each cluster's text prototype (strategy "
                     f"{proto.get('strategy', 'dcs')}) is the caption written under its image below.")
    if syn:
        parts.append(f"Each distilled image: its prototype latent {sampler_sentence(syn)}, with its text prototype "
                     f"as the prompt ({syn.get('steps', '?')} steps, guidance {syn.get('guidance_scale', '?')}).")
    parts.append(standing(rows, run_dir))
    return Section("", f'<p class="summary">{e(" ".join(p for p in parts if p))}</p>' + "".join(note(n) for n in notes))
