"""Build, start and stop a real Asterisk 22 in a Debian sid chroot, loopback only.

Debian 12 has no ``asterisk`` package, so a minimal Debian sid root holding
Asterisk 22 is built once with debootstrap and cached outside the git clone
(``$AIGUILLEUR_CACHE`` or ``~/.cache/aiguilleur``).  Several named instances can
run from the same root at once: each has its own ``ROOT/instances/NAME/{etc,run,
log,spool,lib-db}`` and an ``asterisk.conf`` pointing there, and its own ports
set in the ``*.conf`` files overlaid on a fresh copy of the stock configuration
at every start.  Asterisk runs as root inside the chroot (the chroot's
``asterisk`` uid is the host's ``postgres``); the conf files must bind SIP, AMI
and RTP to 127.0.0.1.

Measured on the 2-core project machine (Debian 12 host, sid mirror, root cached
unless said otherwise):

- cold build of the root (debootstrap minbase sid + apt update/install in it):
  31.9 s and 32.5 s (two builds), root 446 MB, asterisk 1:22.10.1;
- ``ensure_root()`` on a cached root: a lock + a stat, < 1 ms;
- ``start()`` to ``core waitfullybooted`` with the 47 modules of
  ``sandbox/minimal_modules.txt`` (+16 built in): 0.24-0.31 s;
- ``stop()``: ~0.02 s, except within ~1.1 s of boot, where Asterisk holds
  ``core stop now`` until then (up to 0.9 s).

Usage::

    python -m sandbox.pbx build|start|stop|status|cli CMD [--instance NAME] [--conf-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

ROOT_NAME = "sid-asterisk22"
# v2: python3 + six in the root, for the pyst2 fallback AGI script (agi_scripts/).
AGI_SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "agi_scripts"
MARKER = ".aiguilleur-root-ok-v2"
PRISTINE_ETC = "etc/asterisk.pristine"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-fr-gsm", "python3", "python3-six")
FR_SOUNDS = "fr_CA_f_June"
APT_OPTS = ("-o", "Acquire::Check-Valid-Until=false")
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}
ASTERISK = "/usr/sbin/asterisk"
INSTANCE_SUBDIRS = ("etc", "run", "log", "spool", "lib-db")
REPO_DIR = Path(__file__).resolve().parent.parent

Progress = Callable[[str], None]


class PbxError(RuntimeError):
    """A sandbox Asterisk could not be built, started, queried or stopped."""


def default_cache_dir() -> Path:
    """Return ``$AIGUILLEUR_CACHE`` or ``~/.cache/aiguilleur``."""
    env = os.environ.get("AIGUILLEUR_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aiguilleur"


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a text file, or '' if unreadable."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _unescape_mount(field: str) -> str:
    """Decode the octal escapes (``\\040``...) of a /proc/self/mountinfo path."""
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[Path]:
    """Return the host's current mount points."""
    points: list[Path] = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 4:
                points.append(Path(_unescape_mount(fields[4])))
    return points


def _mounts_under(path: Path) -> list[Path]:
    """Return mount points at or below ``path``, deepest first."""
    base = path.resolve()
    found = [p for p in mount_points() if p == base or base in p.parents]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _is_mounted(path: Path) -> bool:
    return path.resolve() in mount_points()


def _umount(path: Path) -> None:
    """Unmount ``path``, lazily if it is busy."""
    res = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
    if res.returncode != 0 and _is_mounted(path):
        res = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise PbxError(f"cannot unmount {path}: {res.stderr.strip()}")


def _remove_tree(path: Path) -> None:
    """Remove a directory tree after unmounting anything mounted below it."""
    if not path.exists() and not path.is_symlink():
        return
    for point in _mounts_under(path):
        _umount(point)
    if _mounts_under(path):
        raise PbxError(f"refusing to remove {path}: something is still mounted below it")
    shutil.rmtree(path)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (pid 1 here does not reap orphans)."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()
    return bool(state) and state[0] not in ("Z", "X")


def _wait_dead(pid: int, timeout: float, reap: Callable[[], None] | None = None) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to die (zombie counts); True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


# --------------------------------------------------------------------------- the root


def _run_logged(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd`` appending its output to ``log``; raise with the log's tail on failure."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        res = subprocess.run(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    if res.returncode != 0:
        raise PbxError(f"command failed (exit {res.returncode}): {' '.join(cmd)}\n--- {log} ---\n" + _tail(log))


def _ensure_debootstrap(log: Path, say: Progress) -> str:
    """Return the path of debootstrap, installing it on the host with apt if missing."""
    found = shutil.which("debootstrap")
    if found:
        return found
    say("installing debootstrap on the host (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run_logged(["apt-get", "install", "-y", "debootstrap"], log, env)
    except PbxError:
        _run_logged(["apt-get", "update"], log, env)
        _run_logged(["apt-get", "install", "-y", "debootstrap"], log, env)
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if not found:
        raise PbxError("debootstrap still not found after apt-get install debootstrap")
    return found


def _chroot(root: Path, *cmd: str) -> list[str]:
    return ["chroot", str(root), *cmd]


def _build_root(partial: Path, log: Path, say: Progress) -> str:
    """Build a complete root in ``partial``; return the installed Asterisk version."""
    debootstrap = _ensure_debootstrap(log, say)
    say(f"debootstrap --variant=minbase sid {partial} (~25 s)")
    _run_logged([debootstrap, "--variant=minbase", "sid", str(partial), MIRROR], log)
    for point in _mounts_under(partial):  # debootstrap normally unmounts its own
        _umount(point)

    policy = partial / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# aiguilleur sandbox: package scripts start nothing\nexit 101\n")
    policy.chmod(0o755)

    proc = partial / "proc"
    proc.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        say("apt-get update + install " + " ".join(PACKAGES) + " in the root (~15 s)")
        _run_logged(_chroot(partial, "apt-get", *APT_OPTS, "update"), log, CHROOT_ENV)
        _run_logged(
            _chroot(
                partial,
                "apt-get",
                *APT_OPTS,
                "install",
                "-y",
                "--no-install-recommends",
                *PACKAGES,
            ),
            log,
            CHROOT_ENV,
        )
        _run_logged(_chroot(partial, "apt-get", "clean"), log, CHROOT_ENV)
        version = subprocess.run(
            _chroot(partial, "dpkg-query", "-W", "-f=${Version}", "asterisk"),
            capture_output=True,
            text=True,
            check=True,
            env=CHROOT_ENV,
        ).stdout.strip()
    finally:
        _umount(proc)

    sounds = partial / "usr/share/asterisk/sounds"
    if not (sounds / FR_SOUNDS).is_dir():
        present = sorted(p.name for p in sounds.iterdir()) if sounds.is_dir() else []
        raise PbxError(f"French sounds not found in {sounds / FR_SOUNDS}; present: {present}")
    fr = sounds / "fr"
    if fr.is_symlink() or fr.exists():
        if not fr.is_symlink():
            raise PbxError(f"{fr} exists and is not a symlink")
        fr.unlink()
    fr.symlink_to(FR_SOUNDS)

    etc = partial / "etc/asterisk"
    if not (etc / "asterisk.conf").is_file():
        raise PbxError(f"stock config missing: {etc}/asterisk.conf")
    shutil.copytree(etc, partial / PRISTINE_ETC, symlinks=True)
    (partial / "instances").mkdir(exist_ok=True)
    return version


def ensure_root(cache_dir: Path, progress: Progress | None = None) -> Path:
    """Return ``cache_dir/sid-asterisk22``, building it first if it is not a finished root."""
    say: Progress = progress or (lambda _msg: None)
    cache_dir = cache_dir.expanduser().resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = cache_dir / ROOT_NAME
    with _flock(cache_dir / f".{ROOT_NAME}.lock"):
        if (root / MARKER).is_file():
            return root
        if root.exists():
            busy = live_instances(root)
            if busy:
                raise PbxError(f"{root} has no {MARKER} but instances run from it: {busy}")
            say(f"removing unfinished root {root}")
            _remove_tree(root)
        partial = cache_dir / f"{ROOT_NAME}.partial"
        if partial.exists():
            say(f"removing stale {partial}")
            _remove_tree(partial)
        log = cache_dir / f"{ROOT_NAME}.build.log"
        log.write_text("")
        started = time.monotonic()
        try:
            version = _build_root(partial, log, say)
            (partial / MARKER).write_text(f"asterisk {version}\n")
            partial.rename(root)
        except BaseException:
            with contextlib.suppress(Exception):
                _remove_tree(partial)
            raise
        say(f"root ready: {root} (asterisk {version}, {time.monotonic() - started:.1f} s)")
        return root


def root_version(root: Path) -> str:
    """Return the marker's content (``asterisk VERSION``) of a finished root."""
    return (root / MARKER).read_text().strip()


# --------------------------------------------------------------------------- instances


STOCK_DIRS = ("astmoddir", "astvarlibdir", "astkeydir", "astdatadir", "astagidir", "astsbindir")


def _stock_directories(pristine_conf: Path) -> dict[str, str]:
    """Return the stock ``[directories]`` entries kept for every instance (modules, sounds...)."""
    found: dict[str, str] = {}
    section = ""
    for raw in pristine_conf.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().lower()
        elif section == "directories" and "=" in line:
            key, value = line.replace("=>", "=").split("=", 1)
            if key.strip() in STOCK_DIRS:
                found[key.strip()] = value.strip()
    missing = [key for key in STOCK_DIRS if key not in found]
    if missing:
        raise PbxError(f"{pristine_conf}: no {missing} in [directories]")
    return found


def _asterisk_conf(instance: str, stock: dict[str, str], extra_options: str) -> str:
    """Return the generated asterisk.conf of an instance."""
    base = f"/instances/{instance}"
    own = {
        "astetcdir": f"{base}/etc",
        "astdbdir": f"{base}/lib-db",
        "astspooldir": f"{base}/spool",
        "astrundir": f"{base}/run",
        "astlogdir": f"{base}/log",
        "astcachedir": f"{base}/spool/cache",
    }
    dirs = "".join(f"{key} => {value}\n" for key, value in {**stock, **own}.items())
    return (
        "; generated by sandbox/pbx.py: per-instance directories, runs as root\n"
        f"[directories]\n{dirs}"
        "\n[options]\n"
        "documentation_language = en_US\n"
        "nocolor = yes\n"
        f"{extra_options}"
    )


def _user_options(conf: Path) -> str:
    """Return the ``[options]`` lines of a user asterisk.conf, minus runuser/rungroup."""
    lines: list[str] = []
    section = ""
    for raw in conf.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().lower()
            if section not in ("options",):
                raise PbxError(
                    f"{conf}: section [{section}] not supported; only [options] is merged "
                    "(directories are set per instance)"
                )
            continue
        key = line.replace("=>", "=").split("=", 1)[0].strip().lower()
        if key in ("runuser", "rungroup", "nocolor", "documentation_language"):
            continue
        lines.append(line + "\n")
    return "".join(lines)


class SandboxPbx:
    """One named Asterisk instance running from a shared sid root."""

    def __init__(self, root: Path, instance: str, conf_dir: Path) -> None:
        if not instance or not instance.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad instance name {instance!r} (letters, digits, - and _)")
        self.root = Path(root).resolve()
        self.instance = instance
        self.conf_dir = Path(conf_dir).resolve()
        self.instance_dir = self.root / "instances" / instance
        self.conf_path = f"/instances/{instance}/etc/asterisk.conf"
        self.pid_file = self.instance_dir / "asterisk.pid"
        self.console_log = self.instance_dir / "log" / "console.log"
        self._child: int | None = None  # pid we spawned and must reap

    def _reap(self) -> None:
        """Reap our own Asterisk child if it has exited (never touches other pids)."""
        if self._child is None:
            return
        try:
            done, _ = os.waitpid(self._child, os.WNOHANG)
        except ChildProcessError:
            done = self._child
        if done == self._child:
            self._child = None

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int | None:
        """The pid recorded for this instance if that process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        """True if ``pid`` is a live (non-zombie) Asterisk of this instance."""
        self._reap()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return self.conf_path.encode() in cmdline.split(b"\0") and pid_alive(pid)

    def running(self) -> bool:
        """True if this instance's Asterisk is alive."""
        return self.pid is not None

    # ------------------------------------------------------------------ start

    def _prepare(self) -> None:
        """Create the instance dirs and overlay our conf on a fresh stock copy."""
        pristine = self.root / PRISTINE_ETC
        if not pristine.is_dir():
            raise PbxError(f"{self.root} is not a finished root (no {PRISTINE_ETC})")
        if not self.conf_dir.is_dir():
            raise PbxError(f"conf dir not found: {self.conf_dir}")
        modules = self.conf_dir / "modules.conf"
        text = modules.read_text() if modules.is_file() else ""
        if "autoload=no" not in text.replace(" ", "").replace("\t", "").lower():
            raise PbxError(
                f"{modules} must exist with autoload=no: the stock one loads ~350 modules, "
                "some listening on 0.0.0.0 (see sandbox/minimal_modules.txt)"
            )
        for sub in INSTANCE_SUBDIRS:
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
        etc = self.instance_dir / "etc"
        _remove_tree(etc)
        shutil.copytree(pristine, etc, symlinks=True)
        extra = ""
        for src in sorted(self.conf_dir.iterdir()):
            if not src.is_file():
                continue
            if src.name == "asterisk.conf":
                extra = _user_options(src)
                continue
            shutil.copy2(src, etc / src.name)
        stock = _stock_directories(pristine / "asterisk.conf")
        (etc / "asterisk.conf").write_text(_asterisk_conf(self.instance, stock, extra))
        run = self.instance_dir / "run"
        _remove_tree(run)
        run.mkdir()
        (self.instance_dir / "spool" / "cache").mkdir(parents=True, exist_ok=True)
        # cdr_custom writes here but does not create it (Debian's package does).
        (self.instance_dir / "log" / "cdr-custom").mkdir(parents=True, exist_ok=True)
        self._install_agi_scripts(stock.get("astagidir", "/usr/share/asterisk/agi-bin"))

    def _install_agi_scripts(self, agidir: str) -> None:
        """Copy our stdio AGI scripts and the pyst2 library they use into the root.

        The scripts run under the root's own python3 when the FastAGI service is down.
        """
        import importlib.util

        spec = importlib.util.find_spec("asterisk")
        if spec is None or spec.origin is None:
            raise PbxError("pyst2 (module 'asterisk') is not installed in this Python")
        lib = self.root / "usr/lib/python3/dist-packages/asterisk"
        _remove_tree(lib)
        shutil.copytree(Path(spec.origin).parent, lib, ignore=shutil.ignore_patterns("__pycache__"))
        target = self.root / agidir.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        for script in sorted(AGI_SCRIPTS_DIR.glob("*.py")):
            if script.name.startswith("_"):
                continue
            dest = target / f"aiguilleur-{script.stem.replace('_', '-')}"
            shutil.copyfile(script, dest)
            dest.chmod(0o755)

    def _mount_proc(self) -> None:
        proc = self.root / "proc"
        with _flock(self.root / "instances" / ".proc.lock"):
            if not _is_mounted(proc):
                subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)

    def _release_proc(self) -> None:
        """Unmount ROOT/proc unless another instance's Asterisk is alive."""
        proc = self.root / "proc"
        with _flock(self.root / "instances" / ".proc.lock"):
            if not _is_mounted(proc):
                return
            for other in live_instances(self.root):
                if other != self.instance:
                    return
            _umount(proc)

    def _spawn(self) -> int:
        """Start ``asterisk -f`` in a new session inside the chroot; return its pid."""
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        argv = [chroot, str(self.root), ASTERISK, "-C", self.conf_path, "-f", "-n"]
        with open(os.devnull, "rb") as devnull, self.console_log.open("ab") as out:
            out.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            out.flush()
            return os.posix_spawn(
                chroot,
                argv,
                CHROOT_ENV,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
                ],
                setsid=True,
                setsigmask=(),
                setsigdef=(
                    signal.SIGPIPE,
                    signal.SIGXFSZ,
                    signal.SIGINT,
                    signal.SIGQUIT,
                    signal.SIGTERM,
                    signal.SIGHUP,
                ),
            )

    def _failure(self, what: str) -> PbxError:
        parts = [f"Asterisk instance {self.instance!r}: {what}"]
        console = _tail(self.console_log)
        if console:
            parts.append(f"--- tail of {self.console_log} ---\n{console}")
        messages = self.instance_dir / "log" / "messages.log"
        if not messages.exists():
            messages = self.instance_dir / "log" / "messages"
        text = _tail(messages, 20)
        if text:
            parts.append(f"--- tail of {messages} ---\n{text}")
        return PbxError("\n".join(parts))

    def start(self, timeout: float = 30.0) -> None:
        """Overlay the config, start Asterisk and wait until it is fully booted."""
        current = self.pid
        if current is not None:
            raise PbxError(f"Asterisk instance {self.instance!r} already running (pid {current})")
        self._prepare()
        self._mount_proc()
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        pid = self._spawn()
        self._child = pid
        self.pid_file.write_text(f"{pid}\n")
        deadline = time.monotonic() + timeout
        ctl = self.instance_dir / "run" / "asterisk.ctl"
        try:
            while True:
                self._reap()
                if not pid_alive(pid):
                    raise self._failure(f"Asterisk (pid {pid}) exited during startup")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._failure(f"not fully booted after {timeout:.1f} s")
                if ctl.exists():
                    try:
                        out = self._rx("core waitfullybooted", max(left, 0.1))
                    except subprocess.TimeoutExpired:
                        continue
                    self._reap()
                    if "fully booted" in out and pid_alive(pid):
                        return
                time.sleep(0.02)
        except BaseException:
            self._kill(pid, 2.0)
            self.pid_file.unlink(missing_ok=True)
            with contextlib.suppress(PbxError):
                self._release_proc()
            raise

    # ------------------------------------------------------------------ cli

    def _rx(self, command: str, timeout: float) -> str:
        res = subprocess.run(
            _chroot(self.root, ASTERISK, "-C", self.conf_path, "-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=CHROOT_ENV,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return res.stdout

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run one Asterisk CLI command (``asterisk -rx``) and return its output."""
        if not self.running():
            raise PbxError(f"Asterisk instance {self.instance!r} is not running")
        try:
            out = self._rx(command, timeout)
        except subprocess.TimeoutExpired as err:
            raise PbxError(f"instance {self.instance!r}: {command!r} timed out") from err
        if out.startswith("Unable to connect to remote asterisk"):
            raise PbxError(f"instance {self.instance!r}: {out.strip()}")
        return out

    # ------------------------------------------------------------------ stop

    def _kill(self, pid: int, timeout: float) -> None:
        """SIGTERM then SIGKILL ``pid`` until it is dead or a zombie."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not pid_alive(pid):
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if _wait_dead(pid, timeout, self._reap):
                return
        if pid_alive(pid):
            raise PbxError(f"Asterisk pid {pid} survived SIGKILL")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop this instance (``core stop now``, then signals) and release proc."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self._rx("core stop now", min(timeout, 5.0))
            if not _wait_dead(pid, timeout / 2, self._reap):
                self._kill(pid, timeout / 4)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        self._release_proc()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop (if running) and start again with a fresh config overlay."""
        self.stop()
        self.start(timeout)

    # ------------------------------------------------------------------ sounds

    def install_sounds(self, src: Path, subdir: str = "aiguilleur") -> Path:
        """Copy prompt files (a file or a directory's content) to ``sounds/fr/SUBDIR``."""
        parts = Path(subdir).parts
        if not parts or Path(subdir).is_absolute() or ".." in parts:
            raise ValueError(f"bad sounds subdir {subdir!r}")
        dest = self.root / "usr/share/asterisk/sounds/fr" / subdir
        dest.mkdir(parents=True, exist_ok=True)
        src = Path(src)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dest / src.name)
        else:
            raise FileNotFoundError(src)
        return dest

    # ------------------------------------------------------------------ context

    def __enter__(self) -> SandboxPbx:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxPbx(root={str(self.root)!r}, instance={self.instance!r}, pid={self.pid})"


def live_instances(root: Path) -> list[str]:
    """Return the names of the instances of ``root`` whose Asterisk is alive."""
    base = root / "instances"
    if not base.is_dir():
        return []
    names = []
    for entry in sorted(base.iterdir()):
        if entry.is_dir() and (entry / "asterisk.pid").exists() and SandboxPbx(root, entry.name, entry).running():
            names.append(entry.name)
    return names


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.pbx``."""
    summary = (__doc__ or "").split("\n", 1)[0]
    parser = argparse.ArgumentParser(prog="python -m sandbox.pbx", description=summary)
    parser.add_argument("action", choices=["build", "start", "stop", "status", "cli"])
    parser.add_argument("command", nargs="*", help="CLI command (for 'cli')")
    parser.add_argument("--instance", default="run")
    parser.add_argument("--conf-dir", type=Path, default=REPO_DIR / "asterisk_conf")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_intermixed_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    cache = args.cache_dir or default_cache_dir()
    try:
        if args.action == "build":
            print(ensure_root(cache, say))
            return 0
        root = ensure_root(cache, say) if args.action == "start" else cache / ROOT_NAME
        pbx = SandboxPbx(root, args.instance, args.conf_dir)
        if args.action == "start":
            started = time.monotonic()
            pbx.start(args.timeout)
            say(f"instance {args.instance!r} fully booted in {time.monotonic() - started:.2f} s")
            print(pbx.pid)
        elif args.action == "stop":
            pbx.stop()
        elif args.action == "status":
            pid = pbx.pid
            print(f"{args.instance}: running (pid {pid})" if pid else f"{args.instance}: stopped")
            return 0 if pid else 3
        else:
            if not args.command:
                parser.error("cli needs a command, e.g. cli core show version")
            print(pbx.cli(" ".join(args.command), args.timeout), end="")
    except PbxError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
