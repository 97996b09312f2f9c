"""How long `mailer` commands take to answer, against bare Python and the bare library imports.

    .venv/bin/python bench/startup.py [--runs 5]

In one run, round after round (each figure once per round, so that the load of this shared
machine falls on all alike), the median of `--runs` wall times each: `python -c pass`,
`python -c "import typer"`, `python -c "import sqlalchemy, typer"`, `mailer --help`,
`mailer --version`, `mailer statements list` (an initialised temporary directory with the
example statements), an embedded `mailer send ID --wait` to 3 subscribers (memory://
broker, the examples' profile, a Maildir outbox; a fresh directory per run, its set-up not
timed), and the RSS of `mailer web` once it answers /healthz. Prints the figures, the
ratios against the goals of issue 18, the load average, and last one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
MAILER = str(BIN / "mailer")
STATEMENT = "nso-export-licence-fr"
# Three people the seed statement's alert is routed to (alerts on, a topic in common).
SUBSCRIBERS = """email,name,locale,country,topics,alerts
ana@example.org,Ana,fr,BE,NSO Group,true
bert@example.org,Bert,nl,BE,surveillance,true
carla@example.org,Carla,de,BE,NSO Group,true
"""

SEND = "embedded send, 3 recipients"
# (figure, what it is measured against, the most it may be, as a ratio or in MB)
GOALS = (
    ("mailer --help", "import typer", 2.0),
    ("mailer statements list", "import sqlalchemy, typer", 1.5),
    (SEND, "mailer statements list", 2.0),
)
WEB_RSS_GOAL_MB = 90.0


def environment(directory: Path) -> dict[str, str]:
    """The embedded default in `directory`, with the examples' organisation profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=f"sqlite:///{directory / 'mailer.db'}",
        MAILER_BROKER_URL="memory://",
        MAILER_TRANSPORT_URL=f"maildir:{directory / 'outbox'}",
        MAILER_DATA_DIR=str(directory / ".mailer"),
        MAILER_ORG_FILE=str(ROOT / "examples" / "mailer.toml"),
    )
    return env


def run(argv: Sequence[str], directory: Path, env: dict[str, str]) -> None:
    """Run a command to the end; a failure stops the benchmark with its output."""
    done = subprocess.run(argv, cwd=directory, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def prepared(directory: Path, *, subscribers: bool) -> dict[str, str]:
    """An initialised data directory with the example statements (and three subscribers)."""
    directory.mkdir(parents=True, exist_ok=True)
    env = environment(directory)
    run([MAILER, "init"], directory, env)
    run([MAILER, "statements", "import", str(ROOT / "examples" / "statements")], directory, env)
    if subscribers:
        csv = directory / "three.csv"
        csv.write_text(SUBSCRIBERS, encoding="utf-8")
        run([MAILER, "subscribers", "import", str(csv), "--consented"], directory, env)
    return env


def timed(argv: Sequence[str], directory: Path, env: dict[str, str]) -> float:
    """Wall seconds of one run of the command."""
    started = time.perf_counter()
    run(argv, directory, env)
    return time.perf_counter() - started


def send_once(directory: Path, env: dict[str, str]) -> float:
    """One embedded send of the seed statement's alert to the three people of `directory`."""
    seconds = timed([MAILER, "send", STATEMENT, "--wait"], directory, env)
    sent = list((directory / "outbox" / "new").iterdir())
    if len(sent) != 3:
        sys.exit(f"the embedded send wrote {len(sent)} emails, not 3")
    return seconds


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/PID/status (VmRSS, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def web_rss(directory: Path, env: dict[str, str]) -> float:
    """RSS of `mailer web` once /healthz answers."""
    port = free_port()
    server = subprocess.Popen(
        [MAILER, "web", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    stderr = server.stderr.read().decode() if server.stderr else ""
                    sys.exit(f"mailer web did not answer:\n{stderr}")
                time.sleep(0.1)
        return rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Runs of each command (median).")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="mailer-startup-"))
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "import typer": [PYTHON, "-c", "import typer"],
        "import sqlalchemy, typer": [PYTHON, "-c", "import sqlalchemy, typer"],
        "mailer --help": [MAILER, "--help"],
        "mailer --version": [MAILER, "--version"],
        "mailer statements list": [MAILER, "statements", "list"],
    }
    samples: dict[str, list[float]] = {name: [] for name in [*commands, SEND]}
    rss: list[float] = []
    try:
        home = base / "home"
        env = prepared(home, subscribers=False)
        # A fresh directory per send (the second send of a group skips who received it).
        sends = [prepared(base / f"send-{i}", subscribers=True) for i in range(args.runs)]
        for command in commands.values():
            run(command, home, env)  # the file cache and the bytecode warm
        for index in range(args.runs):
            for name, command in commands.items():
                samples[name].append(timed(command, home, env))
            samples[SEND].append(send_once(base / f"send-{index}", sends[index]))
            rss.append(web_rss(home, env))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    figures = {name: statistics.median(values) for name, values in samples.items()}
    web_mb = statistics.median(rss)

    load = os.getloadavg()
    print(f"medians of {args.runs} runs; load average {load[0]:.2f} on {os.cpu_count()} cores")
    for name, seconds in figures.items():
        print(f"  {name:<30} {seconds:6.3f} s")
    print(f"  {'mailer web RSS after start':<30} {web_mb:6.1f} MB")
    verdicts: dict[str, float] = {}
    print("goals")
    for name, against, most in GOALS:
        ratio = figures[name] / figures[against]
        verdicts[name] = ratio
        mark = "ok" if ratio <= most else "MISSED"
        print(f"  {name:<30} {ratio:5.2f} x {against} (goal <= {most:g} x)  {mark}")
    mark = "ok" if web_mb <= WEB_RSS_GOAL_MB else "MISSED"
    print(f"  {'mailer web RSS':<30} {web_mb:5.1f} MB (goal <= {WEB_RSS_GOAL_MB:g} MB)  {mark}")
    print(
        json.dumps(
            {
                "seconds": {k: round(v, 3) for k, v in figures.items()},
                "ratios": {k: round(v, 2) for k, v in verdicts.items()},
                "web_rss_mb": round(web_mb, 1),
                "load_average": round(load[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
