"""``tokenfleet emulate``: an OpenAI-compatible twin backend timed by the performance model."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("emulate")
    def emulate(
        hardware: str = typer.Option(..., "--hardware", help="Catalog hardware id, e.g. cs3, h100."),
        model: str = typer.Option(..., "--model", help="Catalog model id, e.g. llama-3.3-70b."),
        replicas: int = typer.Option(1, "--replicas", min=1, max=1024,
                                      help="Replicas of the smallest valid layout."),
        host: str = typer.Option("127.0.0.1", help="Address to bind."),
        port: int = typer.Option(8001, "--port", min=1, max=65535),
        served_name: str | None = typer.Option(None, help="Model name clients use (default: --model)."),
        time_scale: float = typer.Option(1.0, min=0.0, max=1e6, help="Multiply every step (0 = no delay)."),
        error_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share answered with an error."),
        error_status: int = typer.Option(500, min=400, max=599, help="Status of injected errors (400-599)."),
        retry_after_s: float | None = typer.Option(None, min=0.0, max=86400.0,
                                                   help="Retry-After sent with injected errors (e.g. 429)."),
        hang_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share that never sends a first byte."),
        stall_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share stalled before the first token."),
        stall_ms: float = typer.Option(0.0, min=0.0, max=86_400_000.0),
        cut_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of streams cut mid-way."),
        cut_after_tokens: int = typer.Option(3, min=0),
        seed: int = typer.Option(0, help="Seed of the failure injection."),
        default_output_tokens: int = typer.Option(64, "--default-output-tokens", min=1, max=1_000_000,
                                                  help="Tokens answered to a request without max_tokens."),
        keep_alive_s: float = typer.Option(15.0, "--keep-alive-s", min=0.1, max=3600.0,
                                           help="Close a kept-alive connection idle this long."),
        loop: str = typer.Option("auto", "--loop", help="Event loop: auto (uvloop if installed), asyncio, uvloop."),
        http: str = typer.Option("auto", "--http", help="HTTP parser: auto (httptools if installed), h11, httptools."),
    ) -> None:
        """Serve a model with the token timing predicted for HARDWARE at its current load."""
        import uvicorn
        from rich.console import Console

        from tokenfleet import perf
        from tokenfleet.gateway.config import ServerConfig
        from tokenfleet.gateway.emulator.faults import Faults
        from tokenfleet.gateway.emulator.server import create_emulator_app
        from tokenfleet.gateway.runner import uvicorn_config

        dep = perf.deploy(model, hardware)  # fails early with a clear error for unknown ids
        from pydantic import ValidationError

        from tokenfleet.errors import EnvironmentProblem, InputError
        from tokenfleet.gateway.runner import bind_socket

        faults = Faults.from_dict({"error_rate": error_rate, "error_status": error_status,
                                   "retry_after_s": retry_after_s, "hang_rate": hang_rate,
                                   "stall_rate": stall_rate, "stall_ms": stall_ms, "cut_rate": cut_rate,
                                   "cut_after_tokens": cut_after_tokens})
        try:
            server = ServerConfig.model_validate({"loop": loop, "http": http, "keep_alive_s": keep_alive_s})
        except ValidationError as exc:
            raise InputError(exc.errors()[0]["msg"], where="--loop / --http") from None
        app_ = create_emulator_app(hardware, model, replicas, time_scale, faults, seed, served_name,
                                   default_output_tokens=default_output_tokens)
        tpot_ms = dep.step_time(0, 1, 1000) * 1e3
        Console(stderr=True).print(
            f"emulating {dep.describe()} x{replicas} on http://{host}:{port}  "
            f"(TPOT at batch 1: {tpot_ms:.2f} ms, KV {dep.kv_capacity_tokens} tokens)")
        try:
            sock = bind_socket(host, port)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                     where="emulate") from None
        uvicorn.Server(uvicorn_config(app_, host, port, 5.0, "info", server)).run(sockets=[sock])
