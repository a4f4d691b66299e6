"""kill -9 during artifact writes: the path holds the previous good artifact or the new one.

For each artifact kind a child process writes over an existing good artifact at one path, in a
loop that cycles through three versions (A is there at the start; the child writes B, C, A, B,
...); the parent sends SIGKILL after a random (seeded) delay, then checks the path: all of its
files are those of one version (sha256 of every file), it loads with the library's own loader, the
loaded tensors or outputs equal that version's, and the version is the last one the child finished
writing or the one it was writing (never an older one). Kinds:

* ``checkpoint``: ``memgpt.checkpoint.save_checkpoint`` (the versions differ in config and
  weights);
* ``task``: ``memgpt.tasks.artifacts.save_task`` (adapter + head + task.json);
* ``bank``: ``memgpt.memory.MemoryBank.save`` (about 1 MB of keys/values);
* ``passage_bank``: the folder ``memgpt-task memory build`` writes (key/value bank, passages,
  BM25 index, source paths), run through the command's own code;
* ``export``: ``memgpt.export.exporter.export_task`` of a tiny classify task (ONNX + manifest);
* ``training``: ``memgpt.training.train`` with ``save_every=1``, resumed from a checkpoint at
  step 2; the checkpoint left behind must be byte-identical to an uninterrupted run's at the same
  step, and resuming from it must take that run's next step with the same loss.

Children are forked from a "zygote" process that has loaded torch and the inputs (no onnxruntime
session ever runs in it), so a trial costs milliseconds, not an interpreter start.

    python benchmarks/crash_safety.py --trials 50 --out benchmarks/results/crash-safety
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

KINDS = ("checkpoint", "task", "bank", "passage_bank", "export", "training")
ROOT = Path(__file__).resolve().parents[1]
TRAIN_START = 2  # the good training checkpoint each training trial starts from
TRAIN_STEPS = 400  # the child's max_steps (more than it can reach before the kill)
VERSIONS = "ABC"


# ------------------------------------------------------------------ shared by parent and zygote
def _tiny(seed: int, **changes):
    import torch

    from memgpt.config import get_preset
    from memgpt.model import MemGPT

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MemGPT(get_preset("tiny").replace(**changes)).eval()


def _train_parts():
    """(model factory, data, collate, loss_fn, config) of the training kind."""
    import torch

    from memgpt.tasks.adapters import AdapterSpec, add_adapters
    from memgpt.tasks.heads import HeadSpec, TaskModel, classification_loss
    from memgpt.training import TrainConfig

    def make():
        backbone = _tiny(0)
        torch.manual_seed(3)  # the adapter's and the head's initial weights
        add_adapters(backbone, AdapterSpec(kind="lora", rank=2, targets=("q_proj", "v_proj")))
        return TaskModel(backbone, HeadSpec("classify", 64, ("a", "b"), dropout=0.1))

    g = torch.Generator().manual_seed(5)
    # 500 steps an epoch: no epoch end (a second checkpoint at the same step) within reach
    data = [(torch.randint(10, 500, (8,), generator=g), i % 2) for i in range(2000)]

    def collate(batch):
        return (torch.stack([x for x, _ in batch]), torch.tensor([y for _, y in batch]))

    def loss_fn(model, batch):
        return classification_loss(model(batch[0]), batch[1])

    config = TrainConfig(batch_size=4, lr=1e-3, max_steps=TRAIN_STEPS, save_every=1,
                         log_every=1, seed=11)
    return make, data, collate, loss_fn, config


def _texts(version: str) -> dict[str, str]:
    rng = random.Random(version)
    words = "tea harbour oolong kettle river stone lamp paper garden winter".split()
    return {f"{version}-{i}.txt": "\n\n".join(
        " ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(6))
        for i in range(3)}


# ------------------------------------------------------------------ writers (in forked children)
class Writers:
    """What a child writes, loaded once in the zygote from the prepared inputs."""

    def __init__(self, work: Path) -> None:
        self.inputs = work / "inputs"
        self.cache: dict[str, object] = {}

    def prepare(self, kind: str) -> None:
        if kind in self.cache:
            return
        from memgpt.checkpoint import load_model, load_tokenizer

        i = self.inputs
        if kind == "checkpoint":
            self.cache[kind] = [(load_model(i / f"ckpt_{v}"), load_tokenizer(i / f"ckpt_{v}"))
                                for v in VERSIONS]
        elif kind == "task":
            from memgpt.tasks.artifacts import load_task

            pairs = []
            for v in VERSIONS:
                spec, tm = load_task(i / f"task_{v}", load_model(i / "ckpt_A"))
                pairs.append((spec, tm))
            self.cache[kind] = pairs
        elif kind == "bank":
            from memgpt.memory import MemoryBank

            self.cache[kind] = [MemoryBank.load(i / f"bank_{v}") for v in VERSIONS]
        elif kind == "passage_bank":
            import memgpt.cli.memory  # noqa: F401  (imported before the fork)

            self.cache[kind] = [_bank_parts(i, v) for v in VERSIONS]
        elif kind == "export":
            import onnx  # noqa: F401  (imported before the fork; no session is made here)
            import onnxruntime  # noqa: F401

            import memgpt.export.exporter  # noqa: F401
            import memgpt.export.validate  # noqa: F401

            self.cache[kind] = (load_model(i / "ckpt_A"), load_tokenizer(i / "ckpt_A"))
        elif kind == "training":
            import torch._dynamo  # noqa: F401  (the optimizer imports it: 2 s, before the fork)

            import memgpt.training  # noqa: F401

            self.cache[kind] = _train_parts()

    def run(self, kind: str, target: Path, iters: int | None, progress: Path) -> None:
        """Write versions B, C, A, B, ... at ``target`` (``iters`` writes, or until killed); one
        line to ``progress`` after each finished write."""
        self.prepare(kind)
        parts = self.cache[kind]
        if kind == "training":
            make, data, collate, loss_fn, config = parts
            from memgpt.training import train

            train(make(), loss_fn=loss_fn, train_data=data, collate=collate, config=config,
                  out_dir=target, stop_after=iters, progress=False)
            return
        n = 0
        while iters is None or n < iters:
            v = (n + 1) % len(VERSIONS)  # B first: A is already there
            if kind == "checkpoint":
                from memgpt.checkpoint import save_checkpoint

                save_checkpoint(*parts[v], target)
            elif kind == "task":
                from memgpt.tasks.artifacts import save_task

                save_task(target, *parts[v])
            elif kind == "bank":
                parts[v].save(target)
            elif kind == "passage_bank":
                from memgpt.cli.memory import write_bank_folder

                write_bank_folder(target, *parts[v])
            elif kind == "export":
                from memgpt.export.exporter import export_task

                backbone, tok = parts
                export_task(str(self.inputs / f"task_{VERSIONS[v]}"), target, backbone=backbone,
                            tokenizer=tok, sample_size=1, threads=1)
            n += 1
            with open(progress, "a") as f:
                f.write(f"{n}\n")


def _bank_parts(inputs: Path, version: str):
    """What ``memgpt-task memory build`` writes for texts_<version>: (bank, index, paths)."""
    import hashlib as _h

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.memory import MemoryBank
    from memgpt.passages import PassageIndex

    files = sorted((inputs / f"texts_{version}").iterdir())
    texts = {f.name: f.read_text() for f in files}
    docs = {f.name: (texts[f.name], str(f), _h.sha256(f.read_bytes()).hexdigest()) for f in files}
    model, tok = load_model(inputs / "ckpt_A"), load_tokenizer(inputs / "ckpt_A")
    bank = MemoryBank.build(model, tok, texts, window=256, context=64, progress=False)
    return bank, PassageIndex.build(docs), {f.name: str(f) for f in files}


def zygote(work: Path) -> None:
    """Serve fork requests (JSON lines on stdin) until stdin closes."""
    import torch

    torch.set_num_threads(1)
    writers = Writers(work)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "prepare":
            writers.prepare(req["kind"])
            reply = {"ok": True}
        elif req["op"] == "fork":
            pid = os.fork()
            if pid == 0:  # the child: quiet, writes until killed
                code = 0
                try:
                    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    os.dup2(fd, 1)
                    os.dup2(fd, 2)
                    writers.run(req["kind"], Path(req["target"]), req["iters"],
                                Path(req["progress"]))
                except BaseException as e:  # reported through the exit status and the log
                    print(f"child error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                    code = 3
                os._exit(code)
            reply = {"pid": pid}
        elif req["op"] == "reap":
            _, status = os.waitpid(req["pid"], 0)
            reply = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                     "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}
        else:
            reply = {"error": f"unknown op {req['op']}"}
        print(json.dumps(reply), flush=True)


class Zygote:
    def __init__(self, work: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, __file__, "--zygote", str(work)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the zygote process died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ------------------------------------------------------------------ parent: inputs and checks
def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def make_task_folder(folder: Path, backbone, task: str, seed: int) -> Path:
    """A task folder on ``backbone`` with a LoRA adapter of seeded random (non-zero) weights and
    a fresh head (classify: labels neg/pos)."""
    import torch

    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.adapters import (
        AdapterSpec,
        adapter_parameters,
        add_adapters,
        remove_adapters,
    )
    from memgpt.tasks.artifacts import TaskSpec, save_task
    from memgpt.tasks.heads import TaskModel, build_head
    from memgpt.tasks.recipes import default_spec

    remove_adapters(backbone)
    lora = AdapterSpec(rank=4, alpha=8, targets=("q_proj", "v_proj"))
    spec = default_spec(task, d_model=backbone.config.d_model, labels=("neg", "pos"),
                        adapter=lora)
    spec = TaskSpec(**{**spec.__dict__, "backbone_hash": backbone_hash(backbone)})
    add_adapters(backbone, lora)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in adapter_parameters(backbone):
                p.normal_(0, 0.05)
        head = build_head(spec.head)
    return save_task(folder, spec, TaskModel(backbone, spec.head, head))


def make_inputs(work: Path, kinds) -> None:
    """The two versions of every artifact (also the references the checks compare with)."""
    from memgpt.checkpoint import load_model, load_tokenizer, save_checkpoint
    from memgpt.tokenizer import build_test_tokenizer

    i = work / "inputs"
    i.mkdir(parents=True, exist_ok=True)
    tok = build_test_tokenizer()
    save_checkpoint(_tiny(0), tok, i / "ckpt_A")
    save_checkpoint(_tiny(1, max_seq_len=128), tok, i / "ckpt_B")
    save_checkpoint(_tiny(2, max_seq_len=192), tok, i / "ckpt_C")
    for v, seed in zip(VERSIONS, (1, 2, 3)):
        make_task_folder(i / f"task_{v}", load_model(i / "ckpt_A"), "classify", seed)
    for v in VERSIONS:
        d = i / f"texts_{v}"
        d.mkdir(exist_ok=True)
        for name, text in _texts(v).items():
            (d / name).write_text(text)
    if "bank" in kinds or "passage_bank" in kinds:
        from memgpt.cli.memory import write_bank_folder
        from memgpt.memory import MemoryBank

        model, tok_a = load_model(i / "ckpt_A"), load_tokenizer(i / "ckpt_A")
        for v in VERSIONS:
            bank, index, paths = _bank_parts(i, v)
            write_bank_folder(i / f"pbank_{v}", bank, index, paths)
            texts = {**_texts(v), **{f"x{k}": t for k, t in _texts(v + "2").items()}}
            MemoryBank.build(model, tok_a, texts, window=256, progress=False).save(i / f"bank_{v}")
    if "export" in kinds:
        from memgpt.export.exporter import export_task

        model, tok_a = load_model(i / "ckpt_A"), load_tokenizer(i / "ckpt_A")
        for v in VERSIONS:
            export_task(str(i / f"task_{v}"), i / f"export_{v}", backbone=model, tokenizer=tok_a,
                        sample_size=1, threads=1)


REF = {"checkpoint": "ckpt", "task": "task", "bank": "bank", "passage_bank": "pbank",
       "export": "export"}


class Checker:
    """Loads what is at the target and says which version it is (raises when it is neither)."""

    def __init__(self, work: Path) -> None:
        self.inputs = work / "inputs"
        self.work = work
        self.refs: dict[tuple[str, str], dict] = {}
        self.ref_file = work / "train_ref" / "reference.json"
        ref = json.loads(self.ref_file.read_text()) if self.ref_file.is_file() else {}
        # step -> checkpoint digests; the losses of the longest run so far
        self.train_ref = {int(k): v for k, v in ref.get("digests", {}).items()}
        self.train_losses: list[float] = ref.get("losses", [])

    def reset(self, kind: str, target: Path) -> None:
        """Put the good starting artifact (version A) at ``target``."""
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = self.train_dir(TRAIN_START) if kind == "training" else (
            self.inputs / f"{REF[kind]}_A")
        shutil.copytree(src, target)

    # -- training reference: one uninterrupted run, the checkpoint's digests after every step
    def train_dir(self, step: int) -> Path:
        """The reference run's folder after ``step`` steps (the good starting checkpoint)."""
        d = self.work / "train_ref" / str(step)
        if not d.is_dir():
            shutil.rmtree(self.train_run, ignore_errors=True)
            self.train_ref, self.train_losses = {}, []
            self.extend(step, stop=step)
            shutil.copytree(self.train_run, d)
        return d

    @property
    def train_run(self) -> Path:
        return self.work / "train_ref" / "run"

    def extend(self, step: int, stop: int | None = None) -> None:
        """Run the reference on to at least ``step`` steps, noting the checkpoint's digests and
        the losses after every step (the loss function runs when the previous step's
        checkpoint is on disk: save_every=1)."""
        from memgpt.training import train

        make, data, collate, loss_fn, config = _train_parts()
        run = self.train_run

        def noting(model, batch):
            self.note(run / "checkpoint")
            return loss_fn(model, batch)

        have = max(self.train_ref, default=0)
        if have < step:
            res = train(make(), loss_fn=noting, train_data=data, collate=collate, config=config,
                        out_dir=run, stop_after=stop or step - have + 8, progress=False)
            self.note(run / "checkpoint")
            self.train_losses = res.losses
            self.ref_file.write_text(json.dumps({"digests": self.train_ref,
                                                 "losses": self.train_losses}))

    def note(self, ckpt: Path) -> None:
        if (ckpt / "state.json").is_file():
            step = json.loads((ckpt / "state.json").read_text())["state"]["step"]
            self.train_ref[step] = digests(ckpt)

    def check_training(self, target: Path) -> dict:
        from memgpt.training import train

        ckpt = target / "checkpoint"
        state = json.loads((ckpt / "state.json").read_text())["state"]
        step = state["step"]
        if step < TRAIN_START:
            raise AssertionError(f"checkpoint went back to step {step}")
        self.train_dir(TRAIN_START)
        self.extend(step + 1)
        if digests(ckpt) != self.train_ref[step]:
            raise AssertionError(f"checkpoint at step {step} differs from the uninterrupted run's")
        make, data, collate, loss_fn, config = _train_parts()
        scratch = self.work / "resume-check"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(target, scratch)
        res = train(make(), loss_fn=loss_fn, train_data=data, collate=collate, config=config,
                    out_dir=scratch, stop_after=1, progress=False)
        if res.steps != step + 1 or res.losses != self.train_losses[:step + 1]:
            raise AssertionError(f"resuming at step {step} did not continue the loss curve")
        return {"version": f"step {step}", "step": step}

    def version(self, kind: str, target: Path) -> dict:
        if kind == "training":
            return self.check_training(target)
        have = digests(target)
        found = None
        for v in VERSIONS:
            ref = self.inputs / f"{REF[kind]}_{v}"
            want = digests(ref)
            if kind == "export":  # settings.json holds timings: compare the graph, load the rest
                from memgpt.export import specs

                same = have.get(specs.GRAPH_FILE) == want[specs.GRAPH_FILE]
            else:
                same = have == want
            if same:
                found = v
        if found is None:
            raise AssertionError(f"{target} holds neither version: {sorted(have)}")
        self.load(kind, target, found)
        return {"version": found}

    def load(self, kind: str, target: Path, v: str) -> None:
        """Load with the library's loader and compare with the reference version."""
        import torch

        ref = self.inputs / f"{REF[kind]}_{v}"
        if kind == "checkpoint":
            from memgpt.checkpoint import load_model

            a, b = load_model(target).state_dict(), load_model(ref).state_dict()
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        elif kind == "task":
            from memgpt.checkpoint import load_model
            from memgpt.tasks.artifacts import load_task

            ids = torch.arange(3, 40).reshape(1, -1)
            out = [load_task(p, load_model(self.inputs / "ckpt_A"))[1](ids) for p in (target, ref)]
            assert torch.equal(out[0], out[1])
        elif kind in ("bank", "passage_bank"):
            from memgpt.memory import MemoryBank

            a, b = MemoryBank.load(target), MemoryBank.load(ref)
            assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
            if kind == "passage_bank":
                from memgpt.passages import PassageIndex

                pa, pb = PassageIndex.load(target), PassageIndex.load(ref)
                assert pa.passages == pb.passages
        elif kind == "export":
            from memgpt.export.runtime import ExportedTask

            texts = ["a kettle by the river", "winter paper lamp"]
            got = [ExportedTask(p, threads=1).classify(texts) for p in (target, ref)]
            assert got[0] == got[1]


def strays(kind: str, target: Path) -> list[Path]:
    """What a killed write left beside ``target`` (temporary files and folders); for a training
    run, inside its folder."""
    if kind == "training":
        keep = {"checkpoint", "train_log.jsonl", "best.safetensors"}
        return sorted(p for p in target.iterdir() if p.name not in keep)
    return sorted(p for p in target.parent.iterdir() if p.name != target.name)


def expected_versions(done: int) -> set[str]:
    """Versions allowed after ``done`` finished writes of B, C, A, ... over A: the last finished
    one, or the one in progress (published just before its progress line); never an older one."""
    return {VERSIONS[done % len(VERSIONS)], VERSIONS[(done + 1) % len(VERSIONS)]}


def run_kind(kind: str, trials: int, seed: int, work: Path, zyg: Zygote) -> dict:
    """``trials`` kill -9 trials of one kind; returns counts and per-trial outcomes."""
    checker = Checker(work)
    target = work / "targets" / kind / "artifact"
    progress, log = work / f"{kind}.progress", work / f"{kind}.log"
    zyg.ask(op="prepare", kind=kind)
    # calibrate: how long the child takes for three writes (training: 4 steps)
    checker.reset(kind, target)
    progress.unlink(missing_ok=True)
    t0 = time.perf_counter()
    pid = zyg.ask(op="fork", kind=kind, target=str(target), iters=4 if kind == "training" else 3,
                  progress=str(progress), log=str(log))["pid"]
    status = zyg.ask(op="reap", pid=pid)
    if status["exit"] != 0:
        raise RuntimeError(f"{kind}: the calibration child failed: {log.read_text()[-2000:]}")
    span = time.perf_counter() - t0
    rng = random.Random(f"{seed}-{kind}")
    rows, failures = [], []
    for trial in range(trials):
        checker.reset(kind, target)
        progress.unlink(missing_ok=True)
        delay = rng.uniform(0.0, 1.25 * span)
        pid = zyg.ask(op="fork", kind=kind, target=str(target), iters=None,
                      progress=str(progress), log=str(log))["pid"]
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        status = zyg.ask(op="reap", pid=pid)
        done = len(progress.read_text().split()) if progress.exists() else 0
        row = {"trial": trial, "delay_s": round(delay, 4), "writes_done": done,
               "killed": status["signal"] == signal.SIGKILL}
        try:
            if not row["killed"]:
                raise AssertionError(f"the child was not killed: {status}; "
                                     f"{log.read_text()[-500:] if log.exists() else ''}")
            row.update(checker.version(kind, target))
            if kind != "training" and row["version"] not in expected_versions(done):
                raise AssertionError(f"version {row['version']} after {done} finished writes")
            row["ok"] = True
        except Exception as e:
            row.update(ok=False, error=f"{type(e).__name__}: {e}")
            failures.append(row)
        left = strays(kind, target)
        row["strays"] = [p.name for p in left]
        for p in left:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        rows.append(row)
    versions: dict[str, int] = {}
    for r in rows:
        if r.get("ok"):
            key = r["version"] if kind != "training" else (
                "resumed step" if r["step"] == TRAIN_START else "later step")
            versions[key] = versions.get(key, 0) + 1
    return {"kind": kind, "trials": trials, "ok": sum(r["ok"] for r in rows),
            "failed": len(failures), "outcomes": versions,
            "killed_before_a_finished_write": sum(r["writes_done"] == 0 for r in rows),
            "trials_leaving_strays": sum(bool(r["strays"]) for r in rows),
            "calibration_s": round(span, 3), "failures": failures[:5], "rows": rows}


def run(kinds, trials: int, seed: int, work: Path) -> dict:
    make_inputs(work, kinds)
    zyg = Zygote(work)
    try:
        results = {k: run_kind(k, trials, seed, work, zyg) for k in kinds}
    finally:
        zyg.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zygote", metavar="WORK", help=argparse.SUPPRESS)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--out", default="benchmarks/results/crash-safety")
    args = ap.parse_args()
    if args.zygote:
        zygote(Path(args.zygote))
        return
    import tempfile

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import git_revision

    torch.set_num_threads(1)
    kinds = [k for k in args.kinds.split(",") if k]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crash-safety-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        results = run(kinds, args.trials, args.seed, work)
    summary = {k: {f: r[f] for f in ("trials", "ok", "failed", "outcomes",
                                     "trials_leaving_strays", "calibration_s")}
               for k, r in results.items()}
    report = {"benchmark": "crash-safety (kill -9 during writes)", "git_revision": git_revision(),
              "command": "python " + " ".join(sys.argv), "seed": args.seed,
              "trials_per_kind": args.trials, "seconds": round(time.perf_counter() - start, 1),
              "summary": summary, "results": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    if any(r["failed"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
