"""``tokenfleet serve GATEWAY.yaml``: the live OpenAI-compatible gateway; ``tokenfleet hash-key``.

``serve --check`` validates exactly what ``serve`` would use — the file (backend URLs, ports, tiers, unique
names, key hashes), every catalog id, the ledger database (reachable, tables created) and the journal
directory (writable) — prints the pools and exits. Bad input exits 2, an environment problem (port in
use, database unreachable, journal not writable) exits 3, each with one line.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tokenfleet.cli.tables import Column, table


def _check_catalog(cfg: object, source: Path) -> None:
    """Every pool's hardware and model id is in the catalog; the error names the file and the pool's field."""
    from tokenfleet import catalog
    from tokenfleet.errors import InputError, UnknownIdError
    from tokenfleet.gateway.config import GatewayConfig

    assert isinstance(cfg, GatewayConfig)
    for i, p in enumerate(cfg.pools):
        if not p.hardware:
            continue
        for field, lookup, ident in (("hardware", catalog.hardware, p.hardware),
                                     ("perf_model" if p.perf_model else "model", catalog.model,
                                      p.perf_model or p.model)):
            try:
                lookup(ident)
            except UnknownIdError as exc:
                raise InputError(f"{source}: pools.{i}.{field}: {exc}") from None


def _check_journal(path: str) -> None:
    import os
    import tempfile

    from tokenfleet.errors import EnvironmentProblem

    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path, prefix=".probe-")
        os.write(fd, b"x")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise EnvironmentProblem(f"the ledger journal directory is not writable: {exc.strerror or exc}",
                                 where=path) from None


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        config: Path = typer.Argument(..., help="GATEWAY.yaml: pools, backends, classes, keys, ledger."),
        host: str | None = typer.Option(None, help="Override listen.host."),
        port: int | None = typer.Option(None, min=1, max=65535, help="Override listen.port."),
        workers: int = typer.Option(1, "--workers", min=1, max=64,
                                    help="Gateway processes on one socket, sharing the ledger."),
        check: bool = typer.Option(False, "--check", help="Validate everything serve uses, show the pools, exit."),
    ) -> None:
        """Run the gateway: SLO-tiered routing across pools, failover, metering ledger, /metrics."""
        import logging

        from tokenfleet.errors import EnvironmentProblem
        from tokenfleet.gateway.app import create_app
        from tokenfleet.gateway.config import load_config
        from tokenfleet.gateway.fleet import Pool
        from tokenfleet.gateway.journal import ignore_sigxfsz
        from tokenfleet.gateway.ledger import probe
        from tokenfleet.gateway.runner import GatewayServer, bind_socket, serve_workers, uvicorn_config

        cfg = load_config(config)
        _check_catalog(cfg, config)
        console = Console(stderr=True)
        cols = [Column("pool", "id"), Column("model", "id"), Column("tiers", "text"), Column("backends", priority=2),
                Column("$/Mtok in/out", priority=1), Column("TTFB s", priority=1),
                Column("performance model", "text", 3, min_width=20)]
        console.print(table(f"{config.name}: routing policy {cfg.routing.policy}", cols, [
            [p.name, p.model, ", ".join(p.tiers) or "-", str(len(p.backends)),
             f"{p.usd_per_mtok_in:g} / {p.usd_per_mtok_out:g}", f"{cfg.ttfb_timeout_s(p):g}", Pool(p).perf_note]
            for p in cfg.pools], full=None))
        bare = [k.id for k in cfg.keys if k.prefix is None]
        if bare:
            console.print(f"warning: keys without a prefix ({', '.join(bare[:5])}{', ...' if len(bare) > 5 else ''}): "
                          f"every unknown key costs {len(bare)} scrypt derivation(s); re-issue them with "
                          "`tokenfleet hash-key` and set keys[].prefix")
        probe(cfg.ledger.url)
        _check_journal(cfg.ledger.journal_path())
        h = host or cfg.listen.host
        pt = cfg.listen.port if port is None else port
        if check:
            console.print(f"ok: {len(cfg.pools)} pools, {sum(len(p.backends) for p in cfg.pools)} backends, "
                          f"ledger {cfg.ledger.url} reachable, journal {cfg.ledger.journal_path()} writable")
            return
        try:
            sock = bind_socket(h, pt)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot listen on {h}:{pt}: {exc.strerror or exc}", where="serve") from None
        ignore_sigxfsz()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        console.print(f"gateway on http://{h}:{pt}  ledger {cfg.ledger.url}  journal {cfg.ledger.journal_path()}"
                      + (f"  workers {workers}" if workers > 1 else ""))
        from tokenfleet.workload.prefix import PromptHasher

        pc = cfg.routing.prefix
        console.print(f"routing {cfg.routing.policy}; prompt block hashes "
                      f"{PromptHasher(pc.block_tokens, pc.tokenizer).source}")
        if workers > 1:
            raise typer.Exit(serve_workers(str(config), sock, workers))
        # GatewayServer: on SIGTERM /readyz turns 503 while in-flight streams drain, then uvicorn shuts down
        GatewayServer(uvicorn_config(create_app(cfg), h, pt, cfg.drain_timeout_s, "info", cfg.server)).run(
            sockets=[sock])

    @app.command("hash-key")
    def hash_key_cmd(
        key: str | None = typer.Argument(None, help="An API key to hash; omit to generate a new one."),
    ) -> None:
        """Print an API key, its prefix and the salted scrypt hash for GATEWAY.yaml (keys[].prefix, .hash)."""
        from tokenfleet.gateway.auth import hash_key, key_prefix, new_key

        k = key or new_key()
        typer.echo(f"key:    {k}\nprefix: {key_prefix(k)}\nhash:   {hash_key(k)}")
