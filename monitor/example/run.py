"""``syncwatch example``: bring up the example systems, check the config, probe, compare with the truth."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.clock import SystemClock
from monitor.config import load_config
from monitor.example.server import CRM_KEY, SHOP_TOKEN, ExampleApi
from monitor.example.world import Injected, build_world
from monitor.loopback import LoopbackServer
from monitor.render_cli import print_check, print_probe
from monitor.results import Kind, ProbeResult
from monitor.runner import Prober
from monitor.store import Store
from probes.base import ConnectorContext

__all__ = ["run_example", "EXAMPLE_ENV"]

# The shipped syncwatch.yaml reads the example systems' address and credentials from these.
EXAMPLE_ENV = ("SYNCWATCH_EXAMPLE_URL", "EXAMPLE_SHOP_TOKEN", "EXAMPLE_CRM_KEY")


def run_example(config_path: Path, out: Console, err: Console, keep_running: bool = False, port: int = 0) -> int:
    clock = SystemClock()
    example_dir = config_path.parent / ".syncwatch" / "example"
    shutil.rmtree(example_dir, ignore_errors=True)
    world = build_world(example_dir, clock.now())
    api = ExampleApi(world)
    with LoopbackServer(api, port=port) as server:
        api.base_url = server.url
        os.environ["SYNCWATCH_EXAMPLE_URL"] = server.url
        os.environ.setdefault("EXAMPLE_SHOP_TOKEN", SHOP_TOKEN)
        os.environ.setdefault("EXAMPLE_CRM_KEY", CRM_KEY)
        config = load_config(config_path)
        out.print(f"[bold]Example systems[/]: WMS and ERP in SQLite under {example_dir}, shop and CRM at {server.url}")
        print_check(out, config)
        store = Store.open(f"sqlite:///{(example_dir / 'syncwatch.db').resolve()}")
        ctx = ConnectorContext(sleep=time.sleep, monotonic=time.monotonic, base_dir=config.base_dir)
        # Sample everything once, so the ground truth can be checked exactly.
        prober = Prober(config, store, clock, ctx, random.Random(1))
        results: list[ProbeResult] = []
        try:
            for name in config.contracts:
                out.rule()
                with err.status(f"probing {name} …"):
                    result = prober.probe(name)
                results.append(result)
                print_probe(out, result, config.contracts[name])
        finally:
            prober.close()
            store.close()
        agreed = _compare_with_truth(out, results, world.truth)
        if keep_running:
            out.print(
                f"\nThe example systems keep running at {server.url}. In another shell:\n"
                f"  export SYNCWATCH_EXAMPLE_URL={server.url} EXAMPLE_SHOP_TOKEN={SHOP_TOKEN} "
                f"EXAMPLE_CRM_KEY={CRM_KEY}\n"
                "  .venv/bin/syncwatch probe stock-wms-to-shop\nCtrl-C to stop.",
                soft_wrap=True,
            )
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    return 0 if agreed else 1


def _compare_with_truth(out: Console, results: list[ProbeResult], truth: list[Injected]) -> bool:
    injected = Counter((t.contract, t.target, t.kind) for t in truth)
    found: Counter[tuple[str, str, str]] = Counter()
    for result in results:
        for target in result.targets:
            for obs in target.observations:
                if obs.kind is not Kind.IN_SYNC:
                    found[(result.contract, target.target, obs.kind.value)] += 1
    out.rule()
    table = Table(title="Injected on purpose vs found by the probes", title_justify="left")
    for column in ("contract", "target", "kind", "injected", "found"):
        table.add_column(column, justify="right" if column in ("injected", "found") else "left")
    agreed = True
    for key in sorted(set(injected) | set(found)):
        same = injected[key] == found[key]
        agreed &= same
        mark = "" if same else " [red]✗[/]"
        table.add_row(*key, str(injected[key]), f"{found[key]}{mark}")
    out.print(table)
    out.print("[green]The probes found exactly the injected divergences.[/]" if agreed else
              "[red]The probes' findings differ from the injected divergences.[/]")
    return agreed
