"""Fingerprint what every preset writes in its first kimg, to prove a refactor changed no behaviour.

For each preset this trains ``--kimg`` (default 0.512) on the CPU with one thread through the CLI,
one tick at the end, and records the SHA-256 of every sample grid (``samples/*.png``), every export
(``generator.safetensors``, ``model.json``, ``exports/*``) and the config it resolved, plus one digest
over the tensors of the training checkpoint (key, dtype, shape and bytes of each tensor; the file's
bytes also hold pickling details that are not behaviour).

    python benchmarks/preset_fingerprint.py --out fp-before.json            # on the old commit
    python benchmarks/preset_fingerprint.py --out fp-after.json --compare fp-before.json

``--max-res R`` trains presets above R pixels for only ``--big-steps`` steps (default 2): a full
0.512 kimg of every 256 px preset takes hours on a 2-core CPU. ``--compare`` prints one line per preset (``same`` or the files that differ) and exits 1 when any
differ. ``--only`` takes a comma-separated list of presets. Presets that need a folder
(``*-folder*``) train on their built-in default data, which is what their config names.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def preset_plan(python: str, kimg: float, max_res: int | None, big_steps: int) -> dict[str, float]:
    """Preset -> kimg to train: ``kimg``, or for presets above ``max_res`` pixels (when given) only
    ``big_steps`` steps of their batch, so that a CPU can fingerprint every preset in reasonable time."""
    code = ("import json; from ganforge.presets import PRESETS; "
            "print(json.dumps({n: [PRESETS.get(n).build().data.resolution, PRESETS.get(n).build().train.batch_size] "
            "for n in PRESETS.names()}))")
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    plan = {}
    for name, (res, batch) in json.loads(out.strip().splitlines()[-1]).items():
        big = max_res is not None and res is not None and res > max_res
        plan[name] = min(kimg, big_steps * batch / 1000) if big else kimg
    return plan


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoint_digest(path: Path) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    h = hashlib.sha256()

    def walk(prefix: str, obj) -> None:
        if isinstance(obj, torch.Tensor):
            t = obj.detach().contiguous()
            h.update(f"{prefix}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(obj, dict):
            for k in sorted(obj, key=str):
                walk(f"{prefix}/{k}", obj[k])
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(f"{prefix}[{i}]", v)
        else:
            h.update(f"{prefix}={obj!r}|".encode())

    # The config is fingerprinted as config.json; the version string is not behaviour.
    for k in ("config", "ganforge_version"):
        state.pop(k, None)
    walk("", state)
    return h.hexdigest()


def fingerprint(python: str, preset: str, kimg: float, work: Path) -> dict:
    out = work / preset
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = [python, "-m", "ganforge", "train", "--preset", preset, "--kimg", str(kimg), "--out", str(out),
           "--device", "cpu", "--set", f"train.tick_kimg={kimg}", "--set", "train.progress=false"]
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    rec: dict = {"seconds": round(time.time() - t0, 1), "rc": proc.returncode, "kimg": kimg}
    if proc.returncode != 0:
        rec["error"] = (proc.stdout + proc.stderr)[-2000:]
        return rec
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    files = {}
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run).as_posix()
        if not p.is_file():
            continue
        if rel.startswith("samples/") or rel.startswith("exports/") or rel in (
                "generator.safetensors", "model.json", "config.json"):
            files[rel] = sha(p)
        elif rel.startswith("checkpoints/") and rel.endswith(".pt"):
            files[rel + "#tensors"] = checkpoint_digest(p)
    rec["files"] = files
    shutil.rmtree(out, ignore_errors=True)
    return rec


def compare(new: dict, old: dict) -> list[str]:
    bad = []
    for preset in sorted(set(new) | set(old)):
        a, b = old.get(preset), new.get(preset)
        if a is None or b is None:
            bad.append(f"{preset}: only in {'new' if a is None else 'old'} run")
            continue
        if a.get("rc") != 0 or b.get("rc") != 0:
            bad.append(f"{preset}: rc old {a.get('rc')} new {b.get('rc')}")
            continue
        if a.get("kimg", 0.512) != b.get("kimg", 0.512):
            bad.append(f"{preset}: trained {a.get('kimg', 0.512)} kimg then, {b.get('kimg', 0.512)} now")
            continue
        fa, fb = a["files"], b["files"]
        diff = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
        print(f"{preset:32s} {'same' if not diff else 'DIFFERS: ' + ', '.join(diff)}  ({len(fb)} files, "
              f"{b.get('kimg', 0.512):g} kimg)")
        if diff:
            bad.append(preset)
    return bad


def main() -> int:
    import torch  # noqa: F401  (loaded once up front: the checkpoint digests need it)

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="JSON file of fingerprints to write")
    ap.add_argument("--compare", help="fingerprints of the reference commit to compare with")
    ap.add_argument("--only", help="comma-separated presets (default: all registered)")
    ap.add_argument("--kimg", type=float, default=0.512)
    ap.add_argument("--max-res", type=int, default=None,
                    help="presets above this resolution train only --big-steps steps (a CPU budget); default: none")
    ap.add_argument("--big-steps", type=int, default=2)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--jobs", type=int, default=1, help="presets trained at once (one thread each)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the presets already in --out (continue an interrupted run)")
    args = ap.parse_args()
    plan = preset_plan(args.python, args.kimg, args.max_res, args.big_steps)
    names = args.only.split(",") if args.only else sorted(plan)
    out_path = Path(args.out)
    result: dict = json.loads(out_path.read_text()) if args.keep and out_path.exists() else {}
    todo = [n for n in names if not (n in result and result[n]["rc"] == 0
                                     and result[n].get("kimg", 0.512) == plan[n])]
    with tempfile.TemporaryDirectory(prefix="gf-fp-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(fingerprint, args.python, n, plan[n], Path(tmp)): n for n in todo}
        for i, fut in enumerate(concurrent.futures.as_completed(futures)):
            name = futures[fut]
            result[name] = r = fut.result()
            print(f"[{i + 1}/{len(todo)}] {name}: rc {r['rc']} in {r['seconds']} s", flush=True)
            out_path.write_text(json.dumps(result, indent=1, sort_keys=True))
    result = {n: result[n] for n in names}
    failed = [n for n, r in result.items() if r["rc"] != 0]
    if failed:
        print("failed to train:", ", ".join(failed))
    if args.compare:
        bad = compare(result, json.loads(Path(args.compare).read_text()))
        print(f"{len(result) - len(bad)} of {len(result)} presets identical" + (f"; differ: {', '.join(bad)}" if bad else ""))
        return 1 if bad or failed else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
