"""End-to-end throughput of mailer against a naive sender and a raw SMTP client, in one run.

    .venv/bin/python bench/throughput.py [--subscribers 20000] [--rtt-ms 20] [--postgres]

Runs a real campaign through a private Redis and `mailer worker` processes (concurrency =
cores, default settings) into Postfix's smtp-sink on 127.0.0.1 (an aiosmtpd sink when
Postfix is missing); with `--rtt-ms N` the sink sits behind an asyncio proxy that delays
every chunk by N/2 ms each way (a relay N ms away; this kernel has no netem). It prints, in
the same run: emails/s and CPU ms per email; the raw client (pre-built bytes, pipelined,
one message in flight on each of as many connections as mailer keeps: processes x
MAILER_SMTP_CONNECTIONS), through the same proxy; at RTT 0 the naive baseline (Jinja2 +
premailer + html2text + the email package per recipient, one connection, on a sample) and
the ceiling issue 15's RTT 0 goal was set against (pre-built bytes, one blocking connection
per core); the ratios; peak RSS of the planner and of each worker; the time to plan; publish-to-first-
accept latency; and last one line of JSON. `--postgres` runs on a private schema of the
PostgreSQL server at 127.0.0.1:5432 (database `test`), dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proxy import DelayProxy  # noqa: E402
from bench.raw import ceiling_per_core, raw_client  # noqa: E402
from bench.sinks import aiosmtpd_sink, smtp_sink  # noqa: E402
from tests.processes import children  # noqa: E402
from tests.servers import RedisServer, free_port  # noqa: E402

EXAMPLES = ROOT / "examples"
LOCALES = ["fr", "fr_BE", "nl", "nl_BE", "de", "en"]


def _env(tmp: Path, redis_url: str, smtp_port: int, database: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        {
            "MAILER_DATABASE_URL": database or f"sqlite:///{tmp}/bench.db",
            "MAILER_BROKER_URL": redis_url,
            "MAILER_TRANSPORT_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=30&max_per_connection=100000",
            "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdefghijkl",
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_BATCH_SIZE": "250",
            "MAILER_DATA_DIR": str(tmp / "data"),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _people(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name,locale,country,alerts\n")
        for i in range(count):
            handle.write(
                f"person{i}@example{i % 50}.org,Person {i},{LOCALES[i % len(LOCALES)]},BE,true\n"
            )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The servers a campaign also spends CPU in, by process name (every process of this machine
# with that name: the bench's own are the busy ones while it runs).
_SERVERS = {"postgres": "database", "smtp-sink": "sink", "redis-server": "redis"}


def _named_cpu_s() -> dict[str, float]:
    """CPU seconds so far of the database server, the sink and Redis, all their processes."""
    used = dict.fromkeys(_SERVERS.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in _SERVERS:
            used[_SERVERS[name]] += _cpu_s(int(entry.name))
    return used


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def naive_baseline(sample: int, smtp_port: int) -> float:
    """Per recipient: render with Jinja2, inline with premailer, html2text, EmailMessage; one connection."""
    import smtplib
    from email.message import EmailMessage

    import html2text
    import premailer
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from mailer.i18n import translations
    from mailer.org import chain_for, load_profile
    from mailer.render.context import email_context
    from mailer.render.personalise import Slots
    from mailer.statements import parse_file

    org = load_profile(EXAMPLES / "mailer.toml")
    statement = parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt")
    env = Environment(
        loader=FileSystemLoader(str(ROOT / "templates")),
        autoescape=select_autoescape(["j2"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(chain_for(org, "fr")), newstyle=True)  # type: ignore[attr-defined]
    template = env.get_template("email/alert/body.html.j2")
    context = email_context(statement, org=org, locale="fr", tr=translations(chain_for(org, "fr")))
    slots = Slots.draw()
    context["slot"] = slots.markers()
    connection = smtplib.SMTP("127.0.0.1", smtp_port)
    start = time.perf_counter()
    for i in range(sample):
        html = template.render(context).replace(slots.marker("greeting"), f"Bonjour Person {i},")
        html = premailer.transform(html, allow_network=False, disable_validation=True)
        message = EmailMessage()
        message["From"] = org.from_address
        message["To"] = f"naive{i}@example.org"
        message["Subject"] = statement.title
        message.set_content(html2text.html2text(html))
        message.add_alternative(html, subtype="html")
        connection.send_message(message)
    elapsed = time.perf_counter() - start
    connection.quit()
    return sample / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=300, help="messages for the naive baseline")
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="import and plan, print the planning figures, send nothing",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="SQLAlchemy URL of an empty database/schema (default: a fresh SQLite file)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a private schema on the PostgreSQL server at 127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0, help="round trip to the relay (a delay proxy)"
    )
    args = parser.parse_args()
    if args.postgres:
        with _postgres_schema() as url:
            _bench(args, url)
    else:
        _bench(args, args.database)


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    import uuid

    import psycopg

    base = os.environ.get(
        "MAILER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    admin = psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    schema = f"mailer_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def _bench(args: argparse.Namespace, database: str | None) -> None:
    from mailer.config import SMTP_CONNECTIONS

    cores = os.cpu_count() or 1
    connections = cores * SMTP_CONNECTIONS
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp_name:
        tmp = Path(tmp_name)
        redis = RedisServer().start()
        port = free_port()
        sink = (
            smtp_sink(port)
            if shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists()
            else None
        )
        if sink is None:
            warnings.warn(
                "Postfix's smtp-sink is missing (apt-get install postfix): using an aiosmtpd sink",
                stacklevel=1,
            )
            sink = aiosmtpd_sink(port)
        proxy = DelayProxy.start(free_port(), port, args.rtt_ms) if args.rtt_ms > 0 else None
        relay = proxy.port if proxy else port
        env = _env(tmp, redis.url, relay, database)
        try:
            people = tmp / "people.csv"
            _people(people, args.subscribers)

            def run(*words: str) -> None:
                subprocess.run(
                    [sys.executable, "-m", "mailer", *words],
                    env=env,
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    text=True,
                )

            run("statements", "import", str(EXAMPLES / "statements"))
            run("subscribers", "import", str(people), "--consented")
            if args.plan_only:
                _, _, plan_s, planner_rss = _plan(env)
                print(f"recipients            {args.subscribers:,}")
                print(
                    f"plan                  {plan_s:.2f} s, planner peak RSS {planner_rss:.0f} MB"
                )
                print(
                    json.dumps(
                        {
                            "recipients": args.subscribers,
                            "plan_s": round(plan_s, 2),
                            "planner_rss_mb": round(planner_rss),
                        }
                    )
                )
                return
            figures = _campaign(env, tmp, cores, args.subscribers, relay)
            figures["first_accept_embedded_s"] = _embedded_latency(env, tmp)
            naive = naive_baseline(min(args.sample, args.subscribers), port) if not proxy else 0.0
            payload_bytes = _one_message(env)
            # The raw client keeps as many connections busy as mailer had open at most.
            connections = max(cores, figures["mailer_connections"])
            top = raw_client(
                relay, payload_bytes, connections=connections, messages=args.subscribers
            )
            per_core = (
                ceiling_per_core(port, payload_bytes, messages=args.subscribers)
                if not proxy
                else 0.0
            )
        finally:
            if proxy is not None:
                proxy.stop()
            sink.stop()
            redis.stop()
    figures.update(
        {
            "rtt_ms": args.rtt_ms,
            "database": "postgresql" if database and "postgresql" in database else "sqlite",
            "connections": connections,
            "naive_per_s": round(naive, 1),
            "ceiling_per_s": round(top, 1),
            "mailer_vs_naive": round(figures["emails_per_s"] / naive, 1) if naive else None,
            "mailer_vs_ceiling": round(figures["emails_per_s"] / top, 2),
            "ceiling_per_core_per_s": round(per_core, 1),
            "mailer_vs_ceiling_per_core": (
                round(figures["emails_per_s"] / per_core, 2) if per_core else None
            ),
        }
    )
    print(
        f"relay                 RTT {args.rtt_ms:g} ms, {figures['database']}, {cores} worker processes,"
        f" MAILER_SMTP_CONNECTIONS {SMTP_CONNECTIONS}: mailer had {figures['mailer_connections']}"
        " connections open at most"
    )
    print(f"recipients            {figures['recipients']:,} (email size {figures['email_kb']} KB)")
    print(
        f"end to end            {figures['emails_per_s']:,.0f} emails/s, {figures['cpu_ms_per_email']:.2f} CPU ms per email"
    )
    servers = ", ".join(
        f"{name} {ms:.2f}" for name, ms in figures["server_cpu_ms_per_email"].items()
    )
    print(f"servers' CPU ms/email {servers}")
    if naive:
        print(
            f"naive baseline        {naive:,.0f} emails/s (per-recipient Jinja2 + premailer + html2text + email, one connection)"
        )
        print(f"mailer / naive        {figures['mailer_vs_naive']} x")
    print(
        f"raw client (ceiling)  {top:,.0f} emails/s (pre-built bytes, pipelined, {connections} connections, one message in flight each)"
    )
    print(f"mailer / raw client   {figures['mailer_vs_ceiling']} x")
    if per_core:
        print(
            f"ceiling (issue 15)    {per_core:,.0f} emails/s (pre-built bytes, one blocking connection per core,"
            " envelope pipelined: the ceiling of issue 15's RTT 0 goal)"
        )
        print(f"mailer / ceiling      {figures['mailer_vs_ceiling_per_core']} x")
    print(
        f"plan                  {figures['plan_s']:.2f} s, planner peak RSS {figures['planner_rss_mb']:.0f} MB"
    )
    print(f"workers peak RSS      {', '.join(f'{r:.0f}' for r in figures['workers_rss_mb'])} MB")
    print(f"publish -> 1st accept {figures['first_accept_s']:.2f} s (Redis, workers running)")
    print(
        f"publish -> 1st accept {figures['first_accept_embedded_s']:.2f} s (embedded: memory://, worker started in-process)"
    )
    print(
        json.dumps(
            {k: v for k, v in figures.items() if k != "workers_rss_mb"}
            | {"worker_rss_mb": max(figures["workers_rss_mb"] or [0])}
        )
    )


def _one_message(env: dict[str, str]) -> bytes:
    from tests.messages import sample_message

    return sample_message(campaign_id=1)


def _plan(env: dict[str, str]) -> tuple[Any, Any, float, float]:
    """Create the campaign and plan it here: (runtime, campaign, seconds, peak RSS in MB)."""
    os.environ.update(env)
    from mailer.campaigns.plan import create_campaign, plan
    from mailer.config import load_settings
    from mailer.runtime import build_runtime

    rt = build_runtime(load_settings(env))
    with rt.db.session() as session:
        campaign = create_campaign(
            session, org=rt.org, statement_id="nso-export-licence-fr", kind="manual"
        )
    start = time.perf_counter()
    plan(rt.db, rt.org, campaign.id)
    plan_s = time.perf_counter() - start
    return rt, campaign, plan_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _established(port: int) -> int:
    """TCP connections established to 127.0.0.1:port right now (from /proc/net/tcp)."""
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "01":
                count += 1
    return count


def _campaign(env: dict[str, str], tmp: Path, cores: int, count: int, port: int) -> dict:  # type: ignore[type-arg]
    """Plan in this process (timed, RSS), then let `mailer worker` processes send it."""
    from mailer.campaigns.status import campaign_status
    from mailer.store.models import Campaign

    rt, campaign, plan_s, planner_rss = _plan(env)
    log = (tmp / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "mailer", "worker", f"--concurrency={cores}", "--loglevel=WARNING"],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Workers up: the pool forked (on a loaded machine that takes more than a fixed pause).
    deadline = time.monotonic() + 60
    while len(children(worker.pid)) < cores and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    from workers.app import configure

    configure(rt.settings)
    from workers.tasks import start_campaign

    pids = {worker.pid, *children(worker.pid)}
    cpu_before = {pid: _cpu_s(pid) for pid in pids}
    others_before = _named_cpu_s()
    start = time.perf_counter()
    start_campaign.delay(campaign.id)
    # Bounded: a worker that fails every batch must not keep the benchmark waiting for ever.
    give_up = time.monotonic() + max(300.0, count / 50)
    peaks: dict[int, float] = {}
    in_flight = 0  # the most connections mailer had open to the relay at once
    while True:
        in_flight = max(in_flight, _established(port))
        pids.update(children(worker.pid))  # a pool process replaced meanwhile counts too
        for pid in pids:
            peaks[pid] = max(peaks.get(pid, 0.0), _rss_mb(pid))
        # Only the state while it runs: counting the ledger would take CPU from the workers.
        with rt.db.session() as session:
            state = session.get(Campaign, campaign.id, populate_existing=True)
            done = state is not None and state.state == "done"
        if done:
            # The worker processes' own CPU time while the campaign ran (start-up excluded),
            # and that of the database server, the sink and Redis over the same time.
            cpu = sum(_cpu_s(pid) - cpu_before.get(pid, 0.0) for pid in pids)
            others = {
                name: used - others_before.get(name, 0.0) for name, used in _named_cpu_s().items()
            }
            break
        if time.monotonic() > give_up:
            for pid in children(worker.pid):  # the pool's processes would go on taking batches
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            worker.kill()
            worker.wait(30)
            log.close()
            tail = (tmp / "worker.log").read_text(errors="replace").splitlines()[-20:]
            raise SystemExit(
                f"bench: campaign {campaign.id} not done after {time.perf_counter() - start:.0f} s;"
                " the worker's log ends:\n" + "\n".join(tail)
            )
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    with rt.db.session() as session:
        status = campaign_status(session, campaign.id)
    first_accept = _latency(rt)
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    log.close()
    return {
        "recipients": status["sent"],
        "email_kb": round(len(_one_message(env)) / 1024, 1),
        "emails_per_s": round(status["sent"] / elapsed, 1),
        "cpu_ms_per_email": round(cpu * 1000 / max(1, status["sent"]), 3),
        "server_cpu_ms_per_email": {
            name: round(used * 1000 / max(1, status["sent"]), 3) for name, used in others.items()
        },
        "plan_s": round(plan_s, 2),
        "planner_rss_mb": round(planner_rss),
        "workers_rss_mb": [round(v) for v in peaks.values() if v],
        "first_accept_s": first_accept,
        "mailer_connections": in_flight,
    }


def _embedded_latency(env: dict[str, str], tmp: Path) -> float:
    """`bench/latency.py` in a fresh process: memory:// broker, the worker in that process."""
    probe = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "latency.py"),
            'email = "person2@example2.org"',
            "nso-export-licence-de",
        ],
        env=env | {"MAILER_BROKER_URL": "memory://"},
        cwd=tmp,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return float(probe.stdout.split()[-1])


def _latency(rt: Any) -> float:
    """Publish to one recipient while the workers run: seconds until the server accepted it
    (the ledger's sent_at is written right after the server's 250)."""

    from bench.latency import first_sent_at
    from mailer.campaigns.plan import create_campaign
    from mailer.store.models import utcnow
    from workers.tasks import start_campaign

    with rt.db.session() as session:
        campaign = create_campaign(
            session,
            org=rt.org,
            statement_id="nso-export-licence-nl",
            kind="manual",
            segment='email = "person1@example1.org"',
            again=True,  # person1 received the group in the throughput run: a measurement resends
        )
    published = utcnow()
    start_campaign.delay(campaign.id)
    sent = first_sent_at(rt, campaign.id)
    return float("inf") if sent is None else round((sent - published).total_seconds(), 3)


if __name__ == "__main__":
    main()
