"""results.json of ``benchmarks/gpu_first.sh`` -> the Markdown of docs/benchmarks.md and the README.

    python benchmarks/results_to_docs.py OUT/results.json                 # print the tables and README lines
    python benchmarks/results_to_docs.py OUT/results.json --update docs/benchmarks.md [--figure docs/images/X.png]

``--update`` rewrites the part of the file between ``<!-- gpu-first:begin -->`` and
``<!-- gpu-first:end -->`` and fills the two "owed" rows of the StyleGAN2 tables (official-config img/s,
stylegan2-fmnist32 fid10k) with what was measured. A ``--check`` run (CPU, tiny presets) measures
nothing that is owed: it is refused by ``--update`` unless ``--allow-check`` is given (for tests).
``--figure`` draws the fid10k curve beside the official run's (matplotlib). Runs on a CPU, after the call.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- gpu-first:begin -->", "<!-- gpu-first:end -->"
CHECK_BANNER = ("> **A `--check` run: CPU, tiny presets, tiny counts.** These figures show that every part runs "
                "end to end; they measure none of the numbers owed to a GPU.")


# ---------------------------------------------------------------------------------------------
# Number formats (the tests use the same functions to find each figure in the tables)


def ips(x) -> str:
    """img/s: thousands separated, one decimal below 100."""
    if x is None:
        return "-"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def num(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return f"{x:,}"
    return f"{x:.{digits}f}"


def params(p) -> str:
    if not p:
        return "-"
    return ", ".join(f"{k} {v:,}" for k, v in p.items())


def _part(res: dict, name: str) -> dict | None:
    return next((p for p in res.get("parts", []) if p["name"] == name), None)


def _preset_cell(r: dict) -> str:
    if r.get("stands_for") and r["stands_for"] != r["preset"] and not r["stands_for"].startswith(r["preset"]):
        return f"`{r['preset']}` (for {r['stands_for']})"
    return f"`{r['preset']}`"


def _status_cell(r: dict) -> str:
    if r.get("status") == "ok":
        return "ok"
    return f"{r.get('status')}: {r.get('error') or r.get('reason') or ''}".strip()


# ---------------------------------------------------------------------------------------------
# Headlines (summary.md) and tables (docs)


def headline(p: dict) -> str:
    f = p.get("figures") or {}
    name = p["name"]
    if not f or p.get("status") in ("skipped", "timed out") and name in ("quality", "extras") and not (
            f.get("snapshots") or f.get("rows")):
        return ""
    try:
        if name == "stage":
            files = (f.get("carried") or {}).get("files") or []
            ok = sum(1 for x in files if x.get("sha256_ok"))
            gpu = f.get("gpu") or {}
            dev = f"{gpu.get('name', p.get('device'))}" + (f", driver {f['driver']}" if f.get("driver") else "")
            return (f"{ok}/{len(files)} data files verified; {dev}; torch {p.get('torch')}, CUDA {p.get('cuda') or '-'}")
        if name == "gpu_tests":
            return (f"{f.get('passed', 0)} passed, {f.get('failed', 0)} failed, {f.get('skipped', 0)} skipped, "
                    f"{f.get('error', 0)} errors of {f.get('collected', 0)}")
        if name == "throughput":
            rows = f.get("rows") or []
            sg2 = [r for r in rows if r.get("mode") == "eager" and (r.get("stands_for") or "").startswith("stylegan2-official")]
            dc = [r for r in rows if (r.get("stands_for") or "") == "dcgan-fmnist32"]
            parts = []
            if sg2:
                parts.append("StyleGAN2 eager " + " / ".join(ips(r.get("img_per_s")) for r in sg2) + " img/s (official "
                             + " / ".join(ips(r.get("reference_img_per_s")) for r in sg2) + ")")
            for r in dc:
                parts.append(f"DCGAN {r['mode']} " + (f"{ips(r.get('img_per_s'))} img/s" if r.get("status") == "ok"
                                                      else r.get("status")))
            prof = f.get("profile") or {}
            if prof.get("status") == "ok":
                parts.append(f"profile: {prof.get('launches_per_step') if prof.get('launches_per_step') is not None else '-'} launches/step")
            return "; ".join(parts)
        if name == "quality":
            snaps = f.get("snapshots") or []
            vals = ", ".join(f"{num(s['value'])} at {s['kimg']:g}" for s in snaps)
            return (f"{f.get('metric')} {vals or '-'} kimg; reached {f.get('kimg_reached', 0):g} of {f.get('target_kimg', 0):g} kimg"
                    + (f" at {ips(f.get('img_per_s_median'))} img/s" if f.get("img_per_s_median") else ""))
        if name == "extras":
            rows = f.get("rows") or []
            okn = sum(1 for r in rows if r.get("status") == "ok")
            e = f.get("emoji") or {}
            em = (f"; emoji run {e.get('kimg_reached', 0):g} kimg, {e.get('metric')} {num(e.get('value'))}"
                  if e.get("status") == "ok" else f"; emoji run {e.get('status', '-')}")
            return f"{okn} of {len(rows)} rows measured" + em
    except Exception as ex:  # noqa: BLE001 - a summary line never stops the summary
        return f"(no headline: {type(ex).__name__}: {ex})"
    return ""


def summary_md(res: dict) -> str:
    mode = res.get("mode")
    dev = res.get("device") or {}
    lines = [f"# ganforge: the first GPU call ({'--check on CPU' if mode == 'check' else 'GPU'})", ""]
    if mode == "check":
        lines += [CHECK_BANNER, ""]
    lines += [f"- device: {dev.get('name') or '-'}; torch {dev.get('torch') or '-'}; CUDA {dev.get('cuda') or '-'}; "
              f"driver {dev.get('driver') or '-'}",
              f"- started {res.get('started')}, finished {res.get('finished') or '(still running)'}; "
              f"{res.get('total_s')} s of the {res.get('budget_s'):g} s budget",
              f"- commit {((res.get('git') or {}).get('commit') or '-')[:12]}"
              + (" (with uncommitted changes)" if (res.get("git") or {}).get("dirty") else ""), "",
              "| part | status | seconds | limit (s) | figures |", "|---|---|---|---|---|"]
    for p in res.get("parts", []):
        st = p["status"] + (f": {p['reason']}" if p.get("reason") else "")
        lines.append(f"| {p['name']} | {st.replace('|', '/')} | {p['seconds']} | {p['limit_s']} | "
                     f"{headline(p).replace('|', '/')} |")
    done = {p["name"] for p in res.get("parts", [])}
    for pl in res.get("plan", []):
        if pl["name"] not in done:
            lines.append(f"| {pl['name']} | not run yet | - | {pl['limit_s']} | |")
    a = res.get("archive") or {}
    if a:
        lines += ["", f"artifacts.tgz: {len(a.get('included', []))} files, {a.get('bytes', 0) / 2**20:.1f} MiB"]
        for x in a.get("left_out", []):
            lines.append(f"- left out: {x['path']} ({x['bytes'] / 2**20:.1f} MiB, sha256 {x['sha256'][:16]}...): {x['why']}")
    lines.append("")
    return "\n".join(lines)


def tables_md(res: dict) -> str:
    mode = res.get("mode")
    dev = res.get("device") or {}
    date = dev.get("date") or (res.get("started") or "")[:10]
    out: list[str] = []
    if mode == "check":
        out += [CHECK_BANNER, ""]
    out += [f"`benchmarks/gpu_first.sh OUT` on {dev.get('name') or '-'} (driver {dev.get('driver') or '-'}), "
            f"torch {dev.get('torch') or '-'}, CUDA {dev.get('cuda') or '-'}, {date}, commit "
            f"{((res.get('git') or {}).get('commit') or '-')[:12]}; {res.get('total_s')} s in all.", "",
            "| part | status | seconds (limit) |", "|---|---|---|"]
    for p in res.get("parts", []):
        st = p["status"] + (f": {p['reason']}" if p.get("reason") else "")
        out.append(f"| {p['name']} | {st.replace('|', '/')} | {p['seconds']} ({p['limit_s']}) |")

    p = _part(res, "gpu_tests")
    if p:
        f = p.get("figures") or {}
        out += ["", f"**GPU tests** (`{p.get('equivalent') or 'pytest -m gpu tests/gpu'}`): {f.get('passed', 0)} passed, "
                f"{f.get('failed', 0)} failed, {f.get('skipped', 0)} skipped, {f.get('error', 0)} errors of "
                f"{f.get('collected', 0)} collected."]
        bad = [(k, t) for k, t in (f.get("tests") or {}).items() if t["outcome"] in ("failed", "error")]
        for k, t in bad:
            out.append(f"- {t['outcome']}: `{k}`: {t.get('message') or ''}")

    p = _part(res, "throughput")
    if p:
        f = p.get("figures") or {}
        rows = f.get("rows") or []
        sg2 = [r for r in rows if (r.get("stands_for") or "").startswith("stylegan2-official")]
        if sg2:
            out += ["", f"**StyleGAN2, official configuration** ({f.get('data', '')}; `{p.get('equivalent') or ''}`):", "",
                    "| preset | mode | batch | parameters | img/s | ms/step | peak GPU memory (GiB) | official img/s | ganforge / official |",
                    "|---|---|---|---|---|---|---|---|---|"]
            for r in sg2:
                if r.get("status") == "ok":
                    out.append(f"| {_preset_cell(r)} | {r['mode']} | {r['batch_size']} | {params(r.get('params'))} | "
                               f"{ips(r['img_per_s'])} | {num(r['ms_per_step'], 2)} | {num(r.get('peak_gpu_mem_gib'), 2)} | "
                               f"{ips(r.get('reference_img_per_s'))} | "
                               f"{num(r.get('vs_reference'), 2) if mode == 'gpu' else '- (tiny preset)'} |")
                else:
                    out.append(f"| {_preset_cell(r)} | {r['mode']} | | | {_status_cell(r)} | | | "
                               f"{ips(r.get('reference_img_per_s'))} | |")
        sg3 = [r for r in rows if (r.get("stands_for") or "").startswith("stylegan3-official")]
        if sg3:
            out += ["", "**StyleGAN3, official 1-GPU 256 px configurations** against the official code's s/kimg on one "
                    "A100 (docs/configs.md of the NVlabs repository; a different card from this one, so the ratio "
                    "says how far from the target of 1.5x the official time we are, not a same-card comparison):", "",
                    "| preset | batch | parameters | img/s | s/kimg | peak GPU memory (GiB) | official s/kimg (A100) | "
                    "ganforge / official speed |", "|---|---|---|---|---|---|---|---|"]
            for r in sg3:
                ref = r.get("reference_img_per_s")
                if r.get("status") == "ok":
                    out.append(f"| {_preset_cell(r)} | {r['batch_size']} | {params(r.get('params'))} | "
                               f"{ips(r['img_per_s'])} | {num(r.get('s_per_kimg'), 2)} | {num(r.get('peak_gpu_mem_gib'), 2)} | "
                               f"{num(1000 / ref, 2) if ref else '-'} | "
                               f"{num(r.get('vs_reference'), 2) if mode == 'gpu' else '- (tiny preset)'} |")
                else:
                    out.append(f"| {_preset_cell(r)} | | | {_status_cell(r)} | | | {num(1000 / ref, 2) if ref else '-'} | |")
        dc = [r for r in rows if (r.get("stands_for") or "") == "dcgan-fmnist32"]
        if dc:
            out += ["", "**DCGAN, eager vs the step as one CUDA graph** (target 40,000 img/s):", "",
                    "| preset | mode | batch | img/s | ms/step | captured | target img/s |", "|---|---|---|---|---|---|---|"]
            for r in dc:
                if r.get("status") == "ok":
                    out.append(f"| {_preset_cell(r)} | {r['mode']} | {r['batch_size']} | {ips(r['img_per_s'])} | "
                               f"{num(r['ms_per_step'], 2)} | {'yes' if r.get('graphed') else 'no'} | "
                               f"{ips(r.get('reference_img_per_s'))} |")
                else:
                    out.append(f"| {_preset_cell(r)} | {r['mode']} | {r.get('batch_size', '')} | {_status_cell(r)} | | | "
                               f"{ips(r.get('reference_img_per_s'))} |")
        prof = f.get("profile") or {}
        if prof.get("status") == "ok":
            out += ["", f"**Profile** of {prof['steps']} steps of `{prof['preset']}` ({prof.get('kind')}; full table in "
                    f"`profile.txt`): {prof.get('launches_per_step') if prof.get('launches_per_step') is not None else '-'} "
                    f"kernel launches and {prof.get('kernels_per_step') if prof.get('kernels_per_step') is not None else '-'} "
                    f"kernels per step, {num(prof.get('gpu_ms_per_step'), 2)} ms of GPU time against "
                    f"{num(prof.get('wall_ms_per_step_profiled'), 2)} ms of wall time per step (under the profiler).", "",
                    "| kernel / operator | ms per step | share | calls per step |", "|---|---|---|---|"]
            for k in prof.get("top", [])[:10]:
                out.append(f"| `{k['name'][:90].replace('|', '/')}` | {num(k['ms_per_step'], 3)} | {100 * k['share']:.1f} % | "
                           f"{k['calls_per_step']} |")
        elif prof:
            out += ["", f"**Profile**: {prof.get('status')}: {prof.get('error') or prof.get('reason')}"]

    p = _part(res, "quality")
    if p:
        f = p.get("figures") or {}
        out += ["", f"**StyleGAN2 on Fashion-MNIST beside the official run** (`{p.get('equivalent') or ''}`; "
                f"{f.get('metric')}, fmnist-cnn, reference: the train split):", "",
                f"| kimg | official StyleGAN2, fid10k | ganforge `{f.get('preset')}`, {f.get('metric')} |", "|---|---|---|"]
        for s in f.get("snapshots") or []:
            kimg = f"{s['kimg']:g}" + (f" (for {s['official_kimg']})" if s.get("official_kimg") not in (None, s["kimg"]) else "")
            out.append(f"| {kimg} | {num(s.get('official_fid10k'))} | {num(s['value'])} |")
        out += ["", f"Reached {f.get('kimg_reached', 0):g} of {f.get('target_kimg', 0):g} kimg in {f.get('train_seconds')} s "
                f"({ips(f.get('img_per_s_median'))} img/s median per tick, {num(f.get('s_per_kimg'), 2)} s/kimg; the official "
                f"run {'-'.join(str(x) for x in f.get('official_s_per_kimg') or [])} s/kimg), "
                f"{f.get('metric_seconds')} s of it in the metrics."
                + (f" Why not further: {f['why']}." if f.get("why") else "")]
        gens = [e for e in f.get("exports") or [] if e["file"].endswith(".safetensors")]
        if gens:
            out.append("Exported generators: " + ", ".join(f"`{e['file']}` ({e['bytes'] / 2**20:.1f} MiB)" for e in gens)
                       + " (those over the archive's limit are listed in results.json with their sha256).")

    p = _part(res, "extras")
    if p:
        f = p.get("figures") or {}
        rows = f.get("rows") or []
        out += ["", f"**The other families** (`{p.get('equivalent') or ''}`):", "",
                "| preset | batch | n_critic | img/s | ms/step | peak GPU memory (GiB) | parameters |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            if r.get("status") == "ok":
                out.append(f"| {_preset_cell(r)} | {r['batch_size']} | {r.get('n_critic', 1)} | {ips(r['img_per_s'])} | "
                           f"{num(r['ms_per_step'], 2)} | {num(r.get('peak_gpu_mem_gib'), 2)} | {params(r.get('params'))} |")
            else:
                out.append(f"| {_preset_cell(r)} | | | {_status_cell(r)} | | | |")
        e = f.get("emoji") or {}
        if e:
            if e.get("status") == "ok":
                out += ["", f"**Short `{e['preset']}` run**: {e.get('kimg_reached', 0):g} kimg in {e.get('train_seconds')} s "
                        f"({ips(e.get('img_per_s_median'))} img/s median per tick), {e.get('metric')} {num(e.get('value'))} "
                        f"({e.get('num_gen')} generated vs {e.get('num_real')} real) at {e.get('at_kimg')} kimg. {e.get('why', '')}"]
            else:
                out += ["", f"**Short `{e.get('preset')}` run**: {e.get('status')}: {e.get('error') or e.get('reason')}"]
    return "\n".join(out) + "\n"


def readme_lines(res: dict) -> list[str]:
    dev = (res.get("device") or {}).get("name") or "-"
    date = (res.get("device") or {}).get("date") or ""
    lines = []
    tp = _part(res, "throughput")
    if tp:
        rows = (tp.get("figures") or {}).get("rows") or []
        sg2 = [r for r in rows if r.get("mode") == "eager" and (r.get("stands_for") or "").startswith("stylegan2-official")
               and r.get("status") == "ok"]
        if sg2:
            lines.append(f"- StyleGAN2, official configuration, one {dev} ({date}): "
                         + " / ".join(f"{r['stands_for'].rsplit('-', 1)[-1]} px {ips(r['img_per_s'])}" for r in sg2)
                         + " img/s; the official code " + " / ".join(ips(r["reference_img_per_s"]) for r in sg2)
                         + " ([docs/benchmarks.md](docs/benchmarks.md)).")
        dc = {r["mode"]: r for r in rows if (r.get("stands_for") or "") == "dcgan-fmnist32" and r.get("status") == "ok"}
        if dc:
            lines.append(f"- `dcgan-fmnist32` at batch {next(iter(dc.values()))['batch_size']}: "
                         + ", ".join(f"{m} {ips(r['img_per_s'])} img/s" for m, r in dc.items()) + " (target 40,000).")
    q = _part(res, "quality")
    if q and (q.get("figures") or {}).get("snapshots"):
        f = q["figures"]
        last = f["snapshots"][-1]
        lines.append(f"- `{f['preset']}` on Fashion-MNIST: {f['metric']} {num(last['value'])} at {last['kimg']:g} kimg"
                     + (f" (official StyleGAN2: {num(last['official_fid10k'])})" if last.get("official_fid10k") is not None else "")
                     + f"; {f.get('kimg_reached', 0):g} of {f.get('target_kimg', 0):g} kimg in one call.")
    if res.get("mode") == "check":
        lines = ["- (from a --check run on a CPU: not a measurement) " + x[2:] for x in lines]
    return lines


# ---------------------------------------------------------------------------------------------
# Writing into the docs


OWED_SG2_ROW = "| ganforge `stylegan2-official-*` |"
OWED_FID_ROW = "| ganforge `stylegan2-fmnist32`, fid10k |"


def fill_owed(text: str, res: dict) -> str:
    """The two "owed" rows of the StyleGAN2 section, with the values measured (cells left "owed" where none).
    A --check run fills nothing: its tiny presets stand in for the official ones but measure none of them."""
    if res.get("mode") != "gpu":
        return text
    tp = _part(res, "throughput")
    if tp:
        rows = {r["stands_for"]: r for r in (tp.get("figures") or {}).get("rows") or []
                if r.get("mode") == "eager" and r.get("status") == "ok" and r.get("stands_for")}
        cells = [ips(rows[k]["img_per_s"]) if k in rows else "owed"
                 for k in ("stylegan2-official-32", "stylegan2-official-64", "stylegan2-official-256")]
        text = re.sub(r"^" + re.escape(OWED_SG2_ROW) + r".*$", OWED_SG2_ROW + " " + " | ".join(cells) + " |", text,
                      flags=re.MULTILINE)
    q = _part(res, "quality")
    if q:
        by = {s.get("official_kimg"): s["value"] for s in (q.get("figures") or {}).get("snapshots") or []
              if s.get("metric") == "fid10k"}
        cells = [num(by[k]) if k in by else "owed" for k in (40, 80, 120, 160)]
        text = re.sub(r"^" + re.escape(OWED_FID_ROW) + r".*$", OWED_FID_ROW + " " + " | ".join(cells) + " |", text,
                      flags=re.MULTILINE)
    return text


def update_doc(path: Path, res: dict) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} section to fill")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    text = head + BEGIN + "\n" + tables_md(res) + END + tail
    path.write_text(fill_owed(text, res))


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = (_part(res, "quality") or {}).get("figures") or {}
    snaps = q.get("snapshots") or []
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    from gpu_first import OFFICIAL_FID10K

    ax.plot(list(OFFICIAL_FID10K), list(OFFICIAL_FID10K.values()), "o-", label="official StyleGAN2")
    if snaps:
        ax.plot([s.get("official_kimg") or s["kimg"] for s in snaps], [s["value"] for s in snaps], "s-",
                label=f"ganforge {q.get('preset')}" + (" (--check, tiny)" if res.get("mode") == "check" else ""))
    ax.set_xlabel("kimg")
    ax.set_ylabel("fid10k (fmnist-cnn)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="results.json of benchmarks/gpu_first.sh")
    ap.add_argument("--update", metavar="DOC", help="rewrite the gpu-first section of DOC (docs/benchmarks.md)")
    ap.add_argument("--figure", metavar="PNG", help="draw the fid10k curve beside the official run's")
    ap.add_argument("--allow-check", action="store_true", help="let --update write a --check run's figures (tests)")
    a = ap.parse_args(argv)
    res = json.loads(Path(a.results).read_text())
    if not str(res.get("schema", "")).startswith("ganforge-gpu-first/"):
        raise SystemExit(f"{a.results}: not a results.json of benchmarks/gpu_first.sh")
    print(tables_md(res))
    print("README lines:")
    print("\n".join(readme_lines(res)) or "(none: nothing measured)")
    if a.update:
        if res.get("mode") != "gpu" and not a.allow_check:
            raise SystemExit("refusing to write a --check run (CPU, tiny presets) into the docs as measurements")
        update_doc(Path(a.update), res)
        print(f"updated {a.update}")
    if a.figure:
        figure(res, Path(a.figure))
        print(f"wrote {a.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
