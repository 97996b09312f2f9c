"""`python -m mailer` without the import bill: a process that imported mailer once forks each call.

Every CLI test pays 1-3 s of imports (and the language detector's models, more than that)
before its command does anything. The server imports all of that once; each call is a
fork of it that becomes `python -m mailer ARGS` in the caller's directory, environment and
stdin/stdout/stderr (the caller's file descriptors, passed over a Unix socket), so a test
still sees a separate process: its own exit code, streams, globals, signals and crashes.
`mailer.cli` itself is imported in each call, never in the server: its consoles read the
environment (COLUMNS, NO_COLOR, TERM) when they are made. Every other module is imported
by the server, so none may read the environment or the working directory when imported
(settings are read by `load_settings`, when a command runs).

The server is single-threaded (forking a process with threads can copy a held lock); it
forks a handler per connection, which forks the command and reports how it ended.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import json
import locale
import os
import pkgutil
import random
import runpy
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, NoReturn

# The environment variables a started interpreter has already acted on: a call that
# changes one of them gets a real new process instead.
_STARTUP = ("PYTHON", "LANG", "LC_")
# Modules that do something when imported (Alembic's environment runs migrations,
# from_env builds an app from the environment), and the CLI (see above).
_NOT_PRELOADED = ("mailer.cli", "mailer.__main__", "mailer.store.migrations", "workers.from_env")
_MESSAGE = 1 << 20
# What commands import on their way (help pages, migrations, database dialects, the embedded
# worker, CSS inlining): a fork that finds them imported starts its work at once.
_LIBRARIES = (
    "_strptime",
    "alembic.autogenerate",
    "alembic.command",
    "alembic.config",
    "alembic.operations",
    "alembic.runtime.migration",
    "alembic.script",
    "celery.app.amqp",
    "celery.app.trace",
    "celery.concurrency.prefork",
    "celery.concurrency.solo",
    "celery.loaders.app",
    "celery.loaders.default",
    "celery.worker.consumer",
    "celery.worker.control",
    "cssutils",
    "encodings.idna",
    "kombu.transport.memory",
    "kombu.transport.redis",
    "lxml.html",
    "mako.ext.pygmentplugin",
    "mako.template",
    "premailer",
    "psycopg",
    "requests",
    "rich.markdown",
    "rich.syntax",
    "rich.traceback",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "typer.rich_utils",
)


def _preload() -> None:
    """Import every mailer and workers module, and load the language detector's models."""
    with warnings.catch_warnings(record=True) as caught:
        import mailer
        import workers

        for package in (mailer, workers):
            for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
                if not module.name.startswith(_NOT_PRELOADED):
                    __import__(module.name)
        for name in _LIBRARIES:
            try:
                __import__(name)
            except ImportError:
                continue  # an optional library this installation does not have
        from mailer.statements.language import detect_language

        detect_language("Une phrase en français, assez longue pour que la langue soit reconnue.")
    if caught:
        # A fresh `python -m mailer` would print these: a fork must not hide them.
        raise RuntimeError("importing mailer warns: " + "; ".join(map(str, caught)))
    for name in [name for name in sys.modules if name.startswith(_NOT_PRELOADED)]:
        del sys.modules[name]
    # Kept out of every collection: a fork's collections neither walk nor copy them.
    gc.collect()
    gc.freeze()


def _become_command(request: dict[str, Any], fds: list[int]) -> NoReturn:
    """In the forked child: turn into `python -m mailer ARGS`, then end as the interpreter
    does (exit code, traceback, threads joined, atexit, what is left open closed)."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    random.seed()  # else every call would draw the server's sequence
    sys.argv = ["mailer", *request["args"]]
    sys.path[0] = request["cwd"]  # as `python -m` puts the working directory first
    code, interrupted = 0, False
    try:
        runpy.run_module("mailer", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        code, interrupted = 1, True
    except BaseException:
        traceback.print_exc()
        code = 1
    _finish(code, interrupted=interrupted)


def _finish(code: int, *, interrupted: bool) -> NoReturn:
    """What Py_FinalizeEx does that a command can notice, then exit: tearing down every
    module of this big process object by object would cost most of a second."""
    threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads are joined
    atexit._run_exitfuncs()
    gc.collect()  # closes what the command left open (SQLite removes its WAL file)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # as Python exits when flushing stdout fails
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


Command = tuple[dict[str, Any], list[int]]


def _handle(connection: socket.socket) -> Command | None:
    """In the handler: fork the command, tell its pid, wait, tell how it ended. Returns
    the request in the command's process, None in the handler once it has answered."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    message, fds, _, _ = socket.recv_fds(connection, _MESSAGE, 3)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        connection.close()
        return request, fds
    for fd in fds:
        os.close(fd)
    connection.sendall(struct.pack("!i", pid))
    _, status = os.waitpid(pid, 0)
    connection.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    return None


def serve(path: str, owner: int) -> Command | None:
    """Preload, say so on stdout, then fork a handler per connection until the `owner`
    process (the pytest run) is gone. Returns only in a command's process, with what it runs."""
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    while True:
        if not events.select(timeout=1.0):
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)
                return None
            continue
        connection, _ = listener.accept()
        if os.fork() == 0:
            events.close()
            listener.close()
            try:
                command = _handle(connection)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            if command is None:
                os._exit(0)
            return command
        connection.close()


# Started servers, kept referenced: they outlive the worker that started them.
_started: list[subprocess.Popen[str]] = []


class ForkServer:
    """A client of the run's one server, and `run`, which answers as `subprocess.run` would.

    The first pytest process of a run (an xdist worker, or pytest itself) starts the server
    under a lock; the others use it: the preloading (seconds of CPU) is paid once per run.
    """

    def __init__(self, env: dict[str, str], cwd: Path, *, run: str, owner: int) -> None:
        self.env = env
        self.dir = Path(tempfile.gettempdir()) / f"mailer-fork-{run}"
        self.dir.mkdir(exist_ok=True)
        self.path = str(self.dir / "socket")
        with (self.dir / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.dir / "ready").exists():
                self._start(cwd, owner)
                (self.dir / "ready").touch()

    def _start(self, cwd: Path, owner: int) -> None:
        with (self.dir / "log").open("w+") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.forkserver", self.path, str(owner)],
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,  # a Ctrl-C reaches the tests, not the server
            )
            assert process.stdout is not None
            if process.stdout.readline() != "ready\n":
                process.wait(30)
                log.seek(0)
                raise RuntimeError(f"the fork server did not start:\n{log.read()}")
        _started.append(process)

    def serves(self, env: dict[str, str]) -> bool:
        """True when a call in `env` can be a fork (no start-up variable differs)."""
        keys = {k for k in (*env, *self.env) if k.startswith(_STARTUP)}
        return all(env.get(k) == self.env.get(k) for k in keys)

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        input: bytes | None,
        timeout: float,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `mailer ARGS` in a fork; the result and time-out of `subprocess.run`."""
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env}).encode()
        with (
            tempfile.TemporaryFile() as stdin,
            tempfile.TemporaryFile() as stdout,
            tempfile.TemporaryFile() as stderr,
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection,
        ):
            if input is not None:
                stdin.write(input)
                stdin.seek(0)
            connection.connect(self.path)
            fds = [stdin.fileno(), stdout.fileno(), stderr.fileno()]
            socket.send_fds(connection, [request], fds)
            connection.settimeout(30)
            (pid,) = struct.unpack("!i", connection.recv(4))
            connection.settimeout(timeout)
            try:
                answer = connection.recv(4)
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["mailer", *args], timeout) from None
            if len(answer) != 4:
                raise RuntimeError(f"the fork server lost `mailer {' '.join(args)}`")
            (code,) = struct.unpack("!i", answer)
            stdout.seek(0)
            stderr.seek(0)
            return subprocess.CompletedProcess(args, code, stdout.read(), stderr.read())


def as_text(data: bytes) -> str:
    """Bytes decoded as `subprocess.run(text=True)` decodes them (newlines translated)."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    command = serve(sys.argv[1], int(sys.argv[2]))
    if command is not None:
        _become_command(*command)
