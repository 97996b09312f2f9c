"""Throughput of `mailer bounces fetch`: reports read over IMAP from a private Dovecot.

    .venv/bin/python bench/bounces.py [--reports 2000] [--database URL]

Sends a real campaign (embedded worker, Maildir outbox) to as many subscribers as there
are reports, then writes one report per message into the bounce mailbox through IMAP
APPEND: hard DSNs (Gmail's layout and Office 365's), qmail and Exim text bounces, soft
bounces, ARF complaints, out-of-office replies and reports that match nobody. Then runs
`mailer bounces fetch` as an operator would and prints reports/s (the command's wall
time, start-up included), and last one line of JSON. Needs root, Dovecot and openssl.

Goal (2 cores): >= 200 reports/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bounce_samples import sample, sent_messages  # noqa: E402
from tests.mailsystems import DovecotServer, MailRoot  # noqa: E402

EXAMPLES = ROOT / "examples"
BOUNCES = "bounces@example.org"
# What comes back, per 20 messages: mostly hard bounces, then the rest of the formats.
MIX = (
    ["dsn-hard-gmail.eml"] * 6
    + ["exchange-office365.eml"] * 2
    + ["qmail.eml", "exim.eml"]
    + ["dsn-soft-mailbox-full.eml", "dsn-delayed.eml"] * 2
    + ["arf-abuse-yahoo.eml", "autoreply-fr.eml", "autoreply-de.eml"]
    + ["dsn-content-5.7.1.eml", "unmatched", "human-reply.eml"]
)


def _mailer(env: dict[str, str], cwd: Path, *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"mailer {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: SQLite)")
    args = parser.parse_args()
    root = MailRoot()
    server = DovecotServer(root, user=BOUNCES, password="bench", home=root.maildir(BOUNCES).parent)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailer-bench-bounces-") as tmp:
            work = Path(tmp)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
            env.update(
                {
                    "MAILER_DATABASE_URL": args.database or f"sqlite:///{work}/bench.db",
                    "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
                    "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
                    "MAILER_BOUNCE_MAILBOX": server.url(),
                    "PYTHONPATH": str(ROOT),
                }
            )
            people = work / "people.csv"
            people.write_text(
                "email,name,locale\n"
                + "".join(f"p{n}@example.net,P{n},fr\n" for n in range(args.reports)),
                encoding="utf-8",
            )
            _mailer(env, work, "subscribers", "import", str(people), "--consented")
            _mailer(env, work, "statements", "import", str(EXAMPLES / "statements"))
            _mailer(env, work, "statements", "publish", "nso-export-licence-fr")
            outbox = []
            for path in (work / "outbox" / "new").iterdir():
                data = path.read_bytes()
                head = message_from_bytes(data.split(b"\r\n\r\n", 1)[0])
                outbox.append(
                    (str(head["Return-Path"]).strip("<>"), str(head["Delivered-To"]), data)
                )
            sent = sent_messages(outbox)
            reports = []
            for n in range(args.reports):
                kind = MIX[n % len(MIX)]
                person = sent[f"p{n}@example.net"]
                if kind == "unmatched":
                    reports.append(
                        sample("dsn-hard-gmail.eml", None, recipient=f"x{n}@example.com")
                    )
                else:
                    reports.append(sample(kind, person))
            started = time.perf_counter()
            server.append(reports)
            appended = time.perf_counter() - started
            started, cpu_before = time.perf_counter(), _children_cpu()
            out = _mailer(env, work, "bounces", "fetch").strip().splitlines()
            elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
            second_started = time.perf_counter()
            again = _mailer(env, work, "bounces", "fetch").strip()
            second = time.perf_counter() - second_started
    finally:
        server.stop()
        root.remove()
    rate = args.reports / elapsed
    print(f"appended {args.reports} reports over IMAP in {appended:.1f} s")
    print(
        f"mailer bounces fetch: {elapsed:.2f} s for {args.reports} reports: {rate:,.0f} reports/s"
        f" ({1000 * cpu / args.reports:.2f} ms of the command's CPU per report, start-up included)"
    )
    print(f"  {out[-1]}")
    print(f"second fetch: {second:.2f} s: {again}")
    print(
        json.dumps(
            {
                "reports": args.reports,
                "seconds": round(elapsed, 2),
                "reports_per_s": round(rate),
                "cpu_ms_per_report": round(1000 * cpu / args.reports, 2),
                "second_fetch_s": round(second, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
