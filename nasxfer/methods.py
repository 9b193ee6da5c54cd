"""Transfer methods compared: our transferred DQN agent, CATCH and the baselines, one protocol.

Should a user transfer a DQN agent, or use a meta-learned searcher? A params file's ``methods:``
section names target tasks per benchmark; for each target every method searches through the
same query oracle (:mod:`nasxfer.searchers`: a cell queried twice costs once, the test metric is
never seen) for the same seeded trials, each run to the largest budget and read at every budget:

* the baselines: random search, local search, regularized evolution, REINFORCE;
* CATCH (:mod:`nasxfer.searchers.catch`) in its four variants. Its meta-training tasks are the
  *other* tasks of the target's benchmark (leave one task out: for a NAS-Bench-201 target the
  other two datasets, for a TransNAS-Bench-101 target the other six tasks), where the paper
  meta-trained on n-class subsets of ImageNet16, which no table here has. ``meta_seeds``
  CATCHers are meta-trained per target and variant; trial ``t`` adapts a copy of CATCHer
  ``t % meta_seeds``. Meta-training reads source tasks only: no target query before the search;
* our DQN agents, from a finished transfer grid per benchmark (``agents:``): zero-shot from every
  other task of that grid (``dqn zero-shot``, no target query before the search) and the agent
  trained on the target itself (``dqn scratch``, whose training queries on the target count as
  ``prior_queries``).

Each (benchmark, target, method) is one part, ``parts/<benchmark>.<target>.<method>.parquet``,
written atomically: a killed run resumes at the first missing part. :func:`assemble` joins the
parts into ``results.parquet`` (the comparison table, :data:`nasxfer.comparison.COLUMNS`) and
``protocol.csv`` (:func:`nasxfer.protocol.protocol_table`).

Source budgets differ and are reported, not equalised: a CATCHer reads ``meta_epochs x
queries_per_meta_epoch`` source cells (500 with the paper's settings), a DQN agent the cells its
training envs read on its source task (thousands; the grid's curves hold the count).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import NasxferError, check_int, unknown

SECTION = "methods"
BASELINES = "baselines"
# Transfer NAS arms: from scratch; joint-trained on the target benchmark's other tasks (task
# transfer); on two subspaces of the target task, each missing one op, then the full space (the
# paper's design; the subspace cells it read are target cells, counted as prior queries); on the
# other benchmark's tasks (space and task transfer).
TNAS_ARMS = ("scratch", "tasks", "subspaces", "cross")
SUBSPACES = {
    "nas-bench-201": (
        ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"),
        ("none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"),
    ),
    "transnas-bench-101": (
        ("none", "skip_connect", "nor_conv_3x3"),
        ("none", "nor_conv_1x1", "nor_conv_3x3"),
    ),
}
CROSS_SOURCES = {  # the other benchmark's tasks a cross arm trains on
    "nas-bench-201": ("transnas-bench-101", ("class_object", "room_layout", "autoencoder", "segmentsemantic")),
    "transnas-bench-101": ("nas-bench-201", ("cifar10", "cifar100", "ImageNet16-120")),
}


@dataclass(frozen=True)
class MethodsConfig:
    """A params file's ``methods:`` section (see the module doc)."""

    results_dir: Path
    targets: dict  # benchmark -> target tasks
    agents: dict = field(default_factory=dict)  # benchmark -> folder of a finished grid (its DQN agents)
    budgets: tuple = (50, 200)
    trials: int = 100
    meta_seeds: int = 5
    variants: tuple = ("meta", "sfs", "zero", "random")  # CATCH's, on every benchmark ...
    variants_by_benchmark: dict = field(default_factory=dict)  # ... unless given per benchmark here
    catch: dict = field(default_factory=dict)  # CatchParams overrides
    transfer_nas: tuple = TNAS_ARMS  # Transfer NAS arms (see TNAS_ARMS)
    transfer_nas_trials: int | None = None  # its replicas per arm and target (None: trials; the paper ran 50)
    source_samples: int = 500  # Transfer NAS joint-training samples (CATCH's 25 x 20 source queries)
    toy_samples: int = 3000  # the double-XOR toy: samples per replica ...
    toy_replicas: int = 5  # ... and replicas per policy (the paper's 5)
    workers: int = 1  # parts at once, as Ray tasks of one CPU each (1: one by one, in this process)
    ray_address: str | None = None  # a Ray cluster to run the parts on instead

    def record(self) -> dict:
        from .profiles import portable

        d = asdict(self)
        d["results_dir"] = portable(self.results_dir)
        d["agents"] = {b: portable(p) for b, p in self.agents.items()}
        return d

    def catch_params(self):
        from .searchers.catch import CatchParams

        return CatchParams(**self.catch)


def methods_config(section, where: str = SECTION) -> MethodsConfig:
    """Validate a ``methods:`` mapping: known keys, known benchmarks and tasks, sane numbers."""
    from .benchmark import canonical_name, task_names
    from .comparison import check_trials
    from .profiles import resolve
    from .searchers.catch import VARIANTS, CatchParams

    if not isinstance(section, dict):
        raise NasxferError(f"{where} must be a mapping (see params/laptop.yaml), got {section!r}")
    known = {f for f in MethodsConfig.__dataclass_fields__}
    bad = [k for k in section if k not in known]
    if bad or "targets" not in section:
        raise NasxferError(f"{where}: keys must come from {sorted(known)} (targets required), got {list(section)}")
    if not isinstance(section["targets"], dict) or not section["targets"]:
        raise NasxferError(f"{where}.targets must map a benchmark to its target tasks, got {section['targets']!r}")
    targets = {}
    for b, tasks in section["targets"].items():
        name = canonical_name(b)
        if not isinstance(tasks, list) or not tasks:
            raise NasxferError(f"{where}.targets.{b} must be a non-empty list of tasks, got {tasks!r}")
        for t in tasks:
            if t not in task_names(name):
                raise unknown(f"task of {name} in {where}.targets", t, task_names(name))
        targets[name] = list(tasks)
    agents = {canonical_name(b): resolve(p) for b, p in (section.get("agents") or {}).items()}
    budgets = tuple(sorted({check_int(b, f"{where}.budgets", 1) for b in section.get("budgets", (50, 200))}))
    raw = section.get("variants", VARIANTS)
    by_bench = {canonical_name(b): tuple(v) for b, v in raw.items()} if isinstance(raw, dict) else {}
    variants = tuple(VARIANTS) if isinstance(raw, dict) else tuple(raw)
    for v in {*variants, *(x for vs in by_bench.values() for x in vs)}:
        if v not in VARIANTS:
            raise unknown(f"CATCH variant in {where}.variants", v, VARIANTS)
    arms = tuple(section.get("transfer_nas", TNAS_ARMS))
    for a in arms:
        if a not in TNAS_ARMS:
            raise unknown(f"Transfer NAS arm in {where}.transfer_nas", a, TNAS_ARMS)
    catch = dict(section.get("catch") or {})
    try:
        CatchParams(**catch)
    except TypeError as e:
        raise NasxferError(f"{where}.catch: {e}; keys: {sorted(CatchParams.__dataclass_fields__)}") from None
    return MethodsConfig(
        resolve(section.get("results_dir", "outputs/methods")),
        targets,
        agents,
        budgets,
        check_trials(section.get("trials", 100)),
        check_int(section.get("meta_seeds", 5), f"{where}.meta_seeds", 1),
        variants,
        by_bench,
        catch,
        arms,
        None if section.get("transfer_nas_trials") is None else check_trials(section["transfer_nas_trials"]),
        check_int(section.get("source_samples", 500), f"{where}.source_samples", 1),
        check_int(section.get("toy_samples", 3000), f"{where}.toy_samples", 1),
        check_int(section.get("toy_replicas", 5), f"{where}.toy_replicas", 1),
        check_int(section.get("workers", 1), f"{where}.workers", 1),
        section.get("ray_address"),
    )


def meta_pool(benchmark: str, target: str) -> list:
    """CATCH's meta-training tasks for `target`: every other task of its benchmark."""
    from .benchmark import task_names

    return [t for t in task_names(benchmark) if t != target]


def methods_of(cfg: MethodsConfig, benchmark: str) -> list:
    """The parts of one target, in the order they run."""
    variants = cfg.variants_by_benchmark.get(benchmark, cfg.variants)
    out = [BASELINES, *(f"catch-{v}" for v in variants), *(f"transfer-nas-{a}" for a in cfg.transfer_nas)]
    return out + (["dqn"] if benchmark in cfg.agents else [])


def part_path(cfg: MethodsConfig, benchmark: str, target: str, method: str) -> Path:
    return cfg.results_dir / "parts" / f"{benchmark}.{target}.{method}.parquet"


# ---- running it --------------------------------------------------------------------------------


def run_methods(cfg: MethodsConfig, data_dir=None, progress: bool = True) -> Path:
    """Run (or resume) every part of the comparison, then :func:`assemble`; returns the folder.

    With ``workers > 1`` (or a ``ray_address``) the parts run as Ray tasks of one CPU each, as many
    at once as the machine (or cluster) has room for, the benchmark tables shipped through Ray's
    object store; every part is seeded on its own, so the tables are the same either way."""
    from tqdm.auto import tqdm

    from .benchmark import load_benchmark
    from .interrupt import GridStopped
    from .io import write_atomic, write_json_atomic
    from .runlock import RunLock

    out = cfg.results_dir
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        _check_config(cfg)
        write_json_atomic({"methods": cfg.record(), "nasxfer_version": _version()}, out / "config.json")
        items = [(b, t, m) for b, tasks in cfg.targets.items() for t in tasks for m in methods_of(cfg, b)]
        items += [TOY] if cfg.transfer_nas else []
        todo = [item for item in items if not _path(cfg, item).is_file()]
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc="methods", unit="part", disable=not progress)
        failed = {}  # a part that raises does not stop the others; the run fails at the end, naming it
        try:
            if cfg.workers > 1 or cfg.ray_address:
                _run_on_ray(cfg, todo, data_dir, bar, failed)
            else:
                benches = {}
                for item in todo:
                    bar.set_postfix_str(_label(item))
                    if item != TOY and item[0] not in benches:
                        benches[item[0]] = load_benchmark(item[0], data_dir=data_dir)
                    try:
                        df = toy_table(cfg) if item == TOY else run_part(cfg, benches[item[0]], *item[1:], data_dir)
                    except Exception as e:  # noqa: BLE001 -- reported below, with every other failure
                        failed[item] = e
                        continue
                    write_atomic(df, _path(cfg, item))
                    bar.update()
        except GridStopped as e:  # a stop signal: the part in flight is dropped, the written ones stay
            e.done, e.total, e.unit = sum(_path(cfg, i).is_file() for i in items), len(items), "parts"
            raise
        finally:
            bar.close()
    if failed:
        first = next(iter(failed.values()))
        raise NasxferError(
            f"{len(failed)} of {len(items)} parts failed ({', '.join(_label(i) for i in failed)}); the other "
            f"{sum(_path(cfg, i).is_file() for i in items)} are written. The first error: "
            f"{type(first).__name__}: {first}. Rerunning the same command runs only the missing parts."
        ) from first
    assemble(cfg, data_dir)
    return out


TOY = ("toy",)


def _label(item) -> str:
    return "double-XOR toy" if item == TOY else f"{item[0]}/{item[1]} {item[2]}"


def _path(cfg: MethodsConfig, item) -> Path:
    return cfg.results_dir / TOY_FILE if item == TOY else part_path(cfg, *item)


def _part_task(cfg: MethodsConfig, item, tables):
    """One part in a Ray worker: the driver's tables served to this process, then the part."""
    import torch

    from .benchmark import provide

    torch.set_num_threads(1)  # one CPU per part; small networks gain nothing from more

    if item == TOY:
        return toy_table(cfg)
    for bench in tables:
        provide(bench)
    bench = next(b for b in tables if b.name == item[0])
    return run_part(cfg, bench, item[1], item[2])


def _run_on_ray(cfg: MethodsConfig, todo, data_dir, bar, failed: dict) -> None:
    from .agent.params import AgentParams
    from .agent.ray_runtime import init_ray
    from .benchmark import load_benchmark
    from .interrupt import GridStopped, deferred, received
    from .io import write_atomic

    ray = init_ray(AgentParams(ray_address=cfg.ray_address, num_cpus=cfg.workers, progress=False))
    names = {*cfg.targets, *(CROSS_SOURCES[b][0] for b in cfg.targets)}
    tables = ray.put([load_benchmark(b, data_dir=data_dir) for b in sorted(names)])
    remote = ray.remote(num_cpus=1, max_retries=0)(_part_task)
    pending = {remote.remote(cfg, item, tables): item for item in todo}
    with deferred():  # a stop signal is only recorded while Ray waits; it is acted on between waits
        while pending:
            if received() is not None:
                for ref in pending:
                    ray.cancel(ref, force=True)  # the parts in flight are dropped, the written ones stay
                raise GridStopped(received())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                item = pending.pop(ref)
                try:
                    df = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the part's own error, reported with the others
                    failed[item] = e.cause if isinstance(e.cause, Exception) else e
                    continue
                write_atomic(df, _path(cfg, item))
                bar.set_postfix_str(f"done: {_label(item)}")
                bar.update()


def run_part(cfg: MethodsConfig, bench, target: str, method: str, data_dir=None) -> pd.DataFrame:
    """The comparison rows of one method on one target (every trial, every budget)."""
    from .comparison import BASE_SEED, COLUMNS, run_comparison

    if method == BASELINES:
        return run_comparison(bench, [target], cfg.budgets, cfg.trials, progress=False)
    if method.startswith("catch-"):
        return catch_rows(cfg, bench, target, method.removeprefix("catch-"))
    if method.startswith("transfer-nas-"):
        return transfer_nas_rows(cfg, bench, target, method.removeprefix("transfer-nas-"), data_dir)
    if method == "dqn":
        from .search_efficiency import grid_agent_rows

        rows, _, _ = grid_agent_rows(cfg.agents[bench.name], bench, [target], cfg.budgets, cfg.trials, BASE_SEED, False)
        return pd.concat(rows, ignore_index=True)[COLUMNS]
    raise unknown("method", method, methods_of(cfg, bench.name))


def catch_rows(cfg: MethodsConfig, bench, target: str, variant: str) -> pd.DataFrame:
    """CATCH-`variant` on `target`: ``trials`` searches to the largest budget, read at each."""
    import torch

    from .comparison import BASE_SEED, COLUMNS, trial_rows
    from .oracle import QueryOracle
    from .searchers import drive
    from .searchers.catch import CatchSearcher, meta_train

    torch.set_num_threads(1)  # small MLPs: more threads only add overhead
    params = cfg.catch_params()
    pool = meta_pool(bench.name, target)
    nets = (
        [None]
        if variant == "sfs"
        else [meta_train(bench, pool, seed=m, variant=variant, params=params)[0] for m in range(cfg.meta_seeds)]
    )
    source = "" if variant == "sfs" else "+".join(pool)
    rows = []
    for trial in range(cfg.trials):
        seed = BASE_SEED + trial
        searcher = CatchSearcher(
            bench.space, np.random.default_rng(seed), net=nets[trial % len(nets)], variant=variant, params=params
        )
        oracle = drive(searcher, QueryOracle(bench, target, max(cfg.budgets)))
        rows += trial_rows(oracle, bench, f"catch-{variant}", seed, cfg.budgets, source=source)
    return pd.DataFrame(rows, columns=COLUMNS)


def transfer_nas_sources(bench, target: str, arm: str, data_dir=None) -> list:
    """The (benchmark, task, ops) pairs a Transfer NAS arm joint-trains on before `target`."""
    from .benchmark import load_benchmark

    if arm == "tasks":
        return [(bench, t, None) for t in meta_pool(bench.name, target)]
    if arm == "subspaces":
        return [(bench, target, ops) for ops in SUBSPACES[bench.name]]
    if arm == "cross":
        other, tasks = CROSS_SOURCES[bench.name]
        src = load_benchmark(other, data_dir=data_dir)
        return [(src, t, None) for t in tasks]
    raise unknown("Transfer NAS arm", arm, TNAS_ARMS)


def transfer_nas_rows(cfg: MethodsConfig, bench, target: str, arm: str, data_dir=None) -> pd.DataFrame:
    """Transfer NAS arm `arm` on `target`: ``trials`` searches to the largest budget, read at each;
    trial ``t`` adapts a copy of joint-trained agent ``t % meta_seeds`` (none for ``scratch``)."""
    import torch

    from .comparison import BASE_SEED, COLUMNS, trial_rows
    from .oracle import QueryOracle
    from .searchers import drive
    from .searchers.transfer_nas import TransferNASSearcher, joint_train

    torch.set_num_threads(1)
    agents, prior, source = [None], [0], ""
    if arm != "scratch":
        pairs = transfer_nas_sources(bench, target, arm, data_dir)
        agents, prior = [], []
        for m in range(cfg.meta_seeds):
            agent = joint_train(pairs, cfg.source_samples, seed=m)
            agents.append(agent)
            # the target task's cells the source phase read (only the subspace arm reads any)
            prior.append(len(agent.queried.get((bench.name, target), ())))
        source = "+".join(f"{b.name}/{t}" + (f"[{','.join(o)}]" if o else "") for b, t, o in pairs)
    rows = []
    for trial in range(cfg.transfer_nas_trials or cfg.trials):
        seed = BASE_SEED + trial
        k = trial % len(agents)
        searcher = TransferNASSearcher(
            bench.space, np.random.default_rng(seed), agent=agents[k], task=f"{bench.name}/{target}"
        )
        oracle = drive(searcher, QueryOracle(bench, target, max(cfg.budgets)))
        rows += trial_rows(
            oracle, bench, f"transfer-nas-{arm}", seed, cfg.budgets, source=source, prior_queries=prior[k]
        )
    return pd.DataFrame(rows, columns=COLUMNS)


TOY_FILE = "double_xor.parquet"


def toy_table(cfg: MethodsConfig) -> pd.DataFrame:
    """Transfer NAS's own check (its Sec. 4.1): the transformer and an LSTM policy of comparable
    size on the double-XOR toy, ``toy_replicas`` seeded replicas of ``toy_samples`` samples each;
    one row per policy, replica and sample with its reward (0 or 1)."""
    import torch

    from .searchers.transfer_nas import TransferNASAgent, double_xor

    torch.set_num_threads(1)
    frames = []
    for policy in ("transformer", "lstm"):
        for r in range(cfg.toy_replicas):
            rewards = double_xor(TransferNASAgent(seed=r, policy=policy), cfg.toy_samples)
            frames.append(
                pd.DataFrame({"policy": policy, "replica": r, "sample": np.arange(len(rewards)), "reward": rewards})
            )
    return pd.concat(frames, ignore_index=True)


def assemble(cfg: MethodsConfig, data_dir=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join the parts into ``results.parquet`` (and CSV) and write ``protocol.csv``."""
    from .benchmark import load_benchmark
    from .io import write_atomic
    from .protocol import protocol_table

    parts = sorted((cfg.results_dir / "parts").glob("*.parquet"))
    if not parts:
        raise NasxferError(f"{cfg.results_dir} has no finished parts yet: run nasxfer methods <params> first")
    results = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    tables = [
        protocol_table(g, load_benchmark(b, data_dir=data_dir)).assign(benchmark=b)
        for b, g in results.groupby("benchmark", sort=False)
    ]
    protocol = pd.concat(tables, ignore_index=True)
    write_atomic(results, cfg.results_dir / "results.parquet")
    write_atomic(results, cfg.results_dir / "results.csv")
    write_atomic(protocol, cfg.results_dir / "protocol.csv")
    return results, protocol


def _check_config(cfg: MethodsConfig) -> None:
    """A folder made with other settings is refused, naming them (the parts would not compare)."""
    path = cfg.results_dir / "config.json"
    if not path.is_file():
        return
    made = json.loads(path.read_text()).get("methods", {})
    now = cfg.record()
    same = (
        "budgets",
        "trials",
        "transfer_nas_trials",
        "meta_seeds",
        "catch",
        "source_samples",
        "toy_samples",
        "toy_replicas",
    )
    differ = [k for k in same if json.loads(json.dumps(made.get(k))) != json.loads(json.dumps(now[k]))]
    if differ:
        raise NasxferError(
            f"{cfg.results_dir} was made with other settings ({', '.join(f'{k}: {made.get(k)!r} now {now[k]!r}' for k in differ)}): "
            f"pick a new results_dir, or delete its parts to start over"
        )


def _version() -> str:
    from . import __version__

    return __version__


@dataclass
class Methods:
    """A finished comparison as the notebook reads it."""

    config: MethodsConfig
    results: pd.DataFrame
    protocol: pd.DataFrame
    toy: pd.DataFrame | None
    benches: dict  # benchmark name -> Benchmark

    def __str__(self) -> str:
        c = self.config
        per = self.results.groupby(["benchmark", "task"]).searcher.nunique()
        lines = [f"transfer methods: {c.trials} trials per method and target, budgets {list(c.budgets)}"]
        lines += [f"  {b}/{t}: {n} searchers" for (b, t), n in per.items()]
        return "\n".join(lines)


def train_agent_grids(params: dict, cfg: MethodsConfig, data_dir=None, progress: bool = True) -> None:
    """Train (or resume) the grids whose DQN agents the comparison reads and that have no results
    yet, where they are the profile's own: its grid, its cross-space grid. (``nasxfer methods``
    leaves this to ``nasxfer grid`` / ``cross-space`` and names them; a notebook run fresh does it.)"""
    from .cross_space import run_cross_space
    from .experiments import run_grid

    known = {params["results_dir"]: lambda: run_grid(params["grid"], params["results_dir"], data_dir, progress)}
    if params.get("cross_space") is not None:
        known[params["cross_space"].results_dir] = lambda: run_cross_space(params, data_dir=data_dir, progress=progress)
    for folder in dict.fromkeys(cfg.agents.values()):
        if not (folder / "results.parquet").is_file() and folder in known:
            known[folder]()


def open_methods(profile=None, *, run_fresh=None, data_dir=None, progress: bool = True) -> Methods:
    """The profile's comparison (run first when ``run_fresh``, default: the profile's ``run_fresh``)."""
    from .benchmark import load_benchmark
    from .notebook import open_section

    _, where, params, cfg, data_dir, fresh = open_section(SECTION, profile, run_fresh, data_dir)
    if fresh:
        train_agent_grids(params, cfg, data_dir=data_dir, progress=progress)
        run_methods(cfg, data_dir=data_dir, progress=progress)
    if not (cfg.results_dir / "results.parquet").is_file():
        raise NasxferError(
            f"{cfg.results_dir} has no results yet: run nasxfer methods {where} "
            f"(or the notebook with -p run_fresh True)"
        )
    results = pd.read_parquet(cfg.results_dir / "results.parquet")
    protocol = pd.read_csv(cfg.results_dir / "protocol.csv")
    toy = pd.read_parquet(cfg.results_dir / TOY_FILE) if (cfg.results_dir / TOY_FILE).is_file() else None
    benches = {b: load_benchmark(b, data_dir=data_dir) for b in results.benchmark.unique()}
    return Methods(cfg, results, protocol, toy, benches)


# ---- against the papers, and which method when ----------------------------------------------------

# CATCH's headline on NAS-Bench-201 (Chen et al. 2020, Sec. 4.2.2): 50 queries, 500 trials, CATCH-meta
CATCH_PAPER = {
    "cifar10": ("p_best", 280 / 500, "finds the best cell in 280 of 500 trials"),
    "cifar100": ("p_top-3", 0.5, "over half of the trials find a top-3 cell"),
    "ImageNet16-120": ("p_best", 0.22, "more than 22% of the trials reach the best cell"),
}


def catch_paper_check(protocol: pd.DataFrame, budget: int = 50) -> pd.DataFrame:
    """CATCH's NAS-Bench-201 headline beside ours at `budget`: our CATCH-meta, CATCH-sfs and the
    best baseline on the paper's measure, with CIs."""
    rows = []
    p = protocol[(protocol.benchmark == "nas-bench-201") & (protocol.budget == budget)]
    for task, (measure, paper, claim) in CATCH_PAPER.items():
        t = p[p.task == task].set_index("searcher")
        if t.empty:
            continue
        base = t.loc[t.index.isin(["random", "local", "evolution", "reinforce"]), measure]
        row = {"task": task, "measure": measure, "paper_catch_meta": paper, "paper": claim}
        for s in ("catch-meta", "catch-sfs"):
            if s in t.index:
                row[s] = t.loc[s, measure]
                row[f"{s}_ci"] = f"[{t.loc[s, measure + '_low']:.2f}, {t.loc[s, measure + '_high']:.2f}]"
        if len(base):
            row["best_baseline"] = f"{base.idxmax()} {base.max():.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def winners(protocol: pd.DataFrame, budget: int, fair: bool = True) -> pd.DataFrame:
    """Per target at `budget`: the searcher with the highest mean best test metric, and every
    searcher whose CI overlaps the winner's (not separable from it). With `fair`, only searchers
    that read no target cell before their search (``dqn scratch`` and the subspace arm of
    Transfer NAS read some) are ranked."""
    p = protocol[protocol.budget == budget]
    if fair:
        p = p[~p.searcher.isin(["dqn scratch", "transfer-nas-subspaces"])]
    rows = []
    for (bench, task), t in p.groupby(["benchmark", "task"], sort=False):
        top = t.loc[t.best_test.idxmax()]
        ties = t[(t.best_test_high >= top.best_test_low) & (t.searcher != top.searcher)].searcher.tolist()
        rows.append(
            {
                "benchmark": bench,
                "task": task,
                "winner": top.searcher,
                "best_test": top.best_test,
                "not_separable": ties,
            }
        )
    return pd.DataFrame(rows)


def which_method(protocol: pd.DataFrame) -> str:
    """In words, from :func:`winners` at each budget: who wins most targets, and how often the
    winner is separable from every other searcher."""
    lines = []
    for b in sorted(protocol.budget.unique()):
        w = winners(protocol, b)
        counts = w.winner.value_counts()
        clear = int((w.not_separable.str.len() == 0).sum())
        lines.append(
            f"at {b} queries (searchers that read no target cell before searching): best mean on "
            + ", ".join(f"{n} of {len(w)} targets: {s}" for s, n in counts.items())
            + f"; the winner is separable from every other searcher on {clear} of {len(w)} targets"
        )
    return "\n".join(lines)


# Transfer NAS's headline (Borsos et al. 2019, Sec. 4.3): joint training on two NAS-Bench-101
# subspaces, then the full space, needs 3-4x fewer trials to reach a given validation accuracy than
# the same agent from scratch and than regularized evolution
TNAS_PAPER_SPEEDUP = (3.0, 4.0)
SPEEDUP_LEVELS = ("first_top5pct", "first_top1pct", "first_top05pct")  # fixed validation levels
SPEEDUP_REFERENCES = ("transfer-nas-scratch", "evolution", "random")


def transfer_nas_speedups(
    results: pd.DataFrame, levels=SPEEDUP_LEVELS, seed: int = 0, count_prior: bool = True
) -> pd.DataFrame:
    """Each transferred Transfer NAS arm's speed-up in target queries (prior queries counted;
    without `count_prior`, the search's alone: the subspace arm's source phase then comes free)
    against every reference of :data:`SPEEDUP_REFERENCES` present, at each validation level."""
    from .protocol import speedups

    refs = [r for r in SPEEDUP_REFERENCES if r in set(results.searcher)]
    is_arm = results.searcher.str.startswith("transfer-nas-") & (results.searcher != "transfer-nas-scratch")
    table = pd.concat(
        [
            # only the arms and this reference: every other searcher's bootstrap would be thrown away
            speedups(results[is_arm | (results.searcher == r)], r, lvl, seed=seed, count_prior=count_prior)
            for r in refs
            for lvl in levels
        ],
        ignore_index=True,
    )
    arms = table.searcher.str.startswith("transfer-nas-") & (table.searcher != "transfer-nas-scratch")
    return table[arms].reset_index(drop=True)


def transfer_nas_finding(table: pd.DataFrame) -> str:
    """Per arm and reference, in words: the speed-ups over the (target, level) pairs of
    :func:`transfer_nas_speedups`, how many are separable from 1 either way, and how many fall in
    the paper's 3-4x. A ratio is undefined where neither side's median trial got there."""
    lo, hi = TNAS_PAPER_SPEEDUP
    lines = [f"the paper: {lo:.0f}-{hi:.0f}x fewer trials than scratch and than evolution (NAS-Bench-101 subspaces)"]
    for (arm, ref), g in table.groupby(["searcher", "reference"], sort=False):
        ok = g[np.isfinite(g.speedup) & (g.speedup > 0)]
        if ok.empty:
            lines.append(f"{arm} vs {ref}: no pair where both medians reached the level")
            continue
        lines.append(
            f"{arm} vs {ref}: median speed-up {ok.speedup.median():.2f}x over {len(ok)} of {len(g)} (target, level) "
            f"pairs (range {ok.speedup.min():.2f}-{ok.speedup.max():.2f}); CI above 1 on {int((g.ci_low > 1).sum())}, "
            f"below 1 on {int((g.ci_high < 1).sum())}; within the paper's {lo:.0f}-{hi:.0f}x on "
            f"{int(ok.speedup.between(lo, hi).sum())}"
        )
    return "\n".join(lines)


def toy_finding(toy: pd.DataFrame, last: int = 200, level: float = 0.9, window: int = 100) -> str:
    """The double-XOR toy in words: each policy's mean reward over its last `last` samples per
    replica, and the samples until its moving average of `window` first reached `level`; the
    paper's claim (the transformer converges faster than the LSTM) holds when every transformer
    replica ends above every LSTM replica."""
    end = toy["sample"].max() + 1
    tail = toy[toy["sample"] >= end - last].groupby(["policy", "replica"]).reward.mean()
    ordered = toy.sort_values("sample")
    # full windows only: a mean over the first few samples reaches any level by luck
    avg = ordered.assign(
        avg=ordered.groupby(["policy", "replica"]).reward.transform(lambda r: r.rolling(window).mean())
    )
    lines = []
    for policy in ("transformer", "lstm"):
        t = tail[policy]
        hit = avg[(avg.policy == policy) & (avg.avg >= level)].groupby("replica")["sample"].min()
        reach = f"median {hit.median():.0f} samples" if len(hit) else "never"
        lines.append(
            f"{policy}: mean reward over the last {last} of {end} samples {t.mean():.2f} (replicas {t.min():.2f}-"
            f"{t.max():.2f}); moving average of {window} reached {level} in {len(hit)} of {len(t)} replicas ({reach})"
        )
    holds = tail["transformer"].min() > tail["lstm"].max()
    lines.append(
        "the paper's claim (the transformer learns the task faster than the LSTM) "
        + ("holds here: every transformer replica ends above every LSTM replica" if holds else "does not hold here")
        + " (chance is 0.25)"
    )
    return "\n".join(lines)
