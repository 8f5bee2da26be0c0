"""``peerscore dev``: the whole pipeline on embedded defaults, in one terminal.

Starts Tansu on 127.0.0.1:9092 (unless ``KAFKA_BOOTSTRAP_SERVERS`` is set), creates the topics, starts ingest
(8000), scoring (8001) and crm-sync (8002) on SQLite files under ``var/``, replays sample buyer journeys, and
reports when the first qualified lead reaches the local CRM. Ctrl-C stops everything in order (ingest first, so
nothing new is accepted, then the workers drain and commit, then the broker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from peerscore.dev.broker import EmbeddedBroker
from peerscore.dev.journeys import JourneyGenerator
from peerscore.dev.replay import replay
from peerscore.events import utcnow
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

console = Console(stderr=True)
DEV_WRITE_KEY = "peerscore-dev-write-key"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    database: str | None


SERVICES = (
    Service("ingest", "peerscore.ingest", 8000, None),
    Service("scoring", "peerscore.scoring", 8001, "scoring.db"),
    Service("crm-sync", "peerscore.crm_sync", 8002, "crm.db"),
)


@dataclass
class DevStack:
    """The three services as child processes. Tests reuse it with other ports, env and log files."""

    var: Path = Path("var")
    port_offset: int = 0
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    broker: EmbeddedBroker | None = None

    def url(self, service: str) -> str:
        port = next(s.port for s in SERVICES if s.name == service) + self.port_offset
        return f"http://127.0.0.1:{port}"

    def bootstrap(self) -> str:
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if external:
            console.print(f"[bold]Kafka[/] using {external}")
            return external
        # The embedded broker keeps records in memory only: state derived from an earlier broker is stale.
        for stale in self.var.glob("*.db*"):
            stale.unlink()
        self.broker = EmbeddedBroker(port=9092, log_path=self.var / "tansu.log").start()
        console.print(f"[bold]Kafka[/] embedded Tansu on {self.broker.bootstrap_servers} (memory storage)")
        return self.broker.bootstrap_servers

    def start_services(self, bootstrap: str) -> None:
        for svc in SERVICES:
            env = {
                **os.environ,
                "PEERSCORE_ENV": os.environ.get("PEERSCORE_ENV", "dev"),
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "HTTP_PORT": str(svc.port + self.port_offset),
                **self.env,
            }
            if svc.database is not None and "DATABASE_URL" not in env:
                env["DATABASE_URL"] = f"sqlite:///{self.var / svc.database}"
            if svc.name == "scoring":  # the console shows each lead's CRM sync status
                env.setdefault("CONSOLE_CRM_SYNC_URL", self.url("crm-sync"))
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = (self.log_dir / f"{svc.name}.log").open("ab")
            self.processes[svc.name] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", svc.module], env=env, start_new_session=True, stdout=out, stderr=out
            )
            if out is not None:
                out.close()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for svc in SERVICES:
            while True:
                self._check_alive()
                try:
                    if httpx.get(f"{self.url(svc.name)}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{svc.name} not ready after {timeout:.0f}s")
                time.sleep(0.2)

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")

    def first_lead_in_crm(self, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                leads = httpx.get(f"{self.url('crm-sync')}/v1/crm/leads", timeout=5).json()
                if leads:
                    return len(leads)
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError("no qualified lead reached the local CRM")

    def stop(self) -> None:
        for svc in SERVICES:
            proc = self.processes.pop(svc.name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


def run_dev(people: int = 150, var: Path = Path("var")) -> None:
    started = time.monotonic()
    var.mkdir(parents=True, exist_ok=True)
    stack = DevStack(var=var)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bootstrap = stack.bootstrap()
        created = ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
        console.print(f"[bold]Topics[/] {len(created)} created")
        stack.start_services(bootstrap)
        stack.wait_ready()  # /readyz: 200 once every consumer holds its partitions (the group joins are done)
        ready = time.monotonic()
        console.print(f"[bold]Services[/] ready (consumers hold their partitions) after {ready - started:.1f}s")
        calls = JourneyGenerator(seed=int(time.time())).calls(people, end=utcnow())
        sent = replay(calls, ingest_url="http://127.0.0.1:8000", write_key=DEV_WRITE_KEY)
        console.print(f"[bold]Sample traffic[/] {sent} Segment calls from {people} people sent to ingest")
        count = stack.first_lead_in_crm()
        console.print(
            f"[bold green]First qualified leads in the local CRM[/] ({count}) "
            f"{time.monotonic() - ready:.1f}s after ready, {time.monotonic() - started:.1f}s after start"
        )
        _print_urls()
        while True:
            stack._check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("\n[bold]Stopping[/] ingest, then the workers (drain and commit), then the broker…")
    finally:
        # A second interrupt must not abort the orderly stop and orphan the workers and the broker: Ctrl-C
        # reaches every process of the terminal's group, and `uv run` forwards its own copy to this one.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        console.print("[bold]Stopped.[/]")


def _interrupt(signum: int, _: object) -> None:
    """Treat SIGTERM like Ctrl-C so a supervisor stopping `make run` gets the same orderly shutdown."""
    raise KeyboardInterrupt


def _print_urls() -> None:
    console.print(
        "\n".join(
            [
                "",
                "  Ingest (Segment-compatible)  http://127.0.0.1:8000/v1/batch   write key: " + DEV_WRITE_KEY,
                "  Scored leads                 http://127.0.0.1:8001/v1/leads",
                "  Marketer console             http://127.0.0.1:8001/console   (open in dev mode)",
                "  Local CRM (HTML)             http://127.0.0.1:8002/crm",
                "  Local CRM (JSON)             http://127.0.0.1:8002/v1/crm/leads",
                "  Metrics                      http://127.0.0.1:800{0,1,2}/metrics",
                "",
                "  Ctrl-C stops everything.",
            ]
        )
    )
