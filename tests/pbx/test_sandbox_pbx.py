"""Real Asterisk 22 in the sandbox chroot: boot, answer, loopback only, clean stop."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import pbx as sandbox_pbx
from sandbox.pbx import PbxError, SandboxPbx, default_cache_dir, ensure_root, pid_alive

pytestmark = pytest.mark.pbx

MODULES_FILE = Path(sandbox_pbx.__file__).with_name("minimal_modules.txt")
AMI_USER = "pytest"
AMI_SECRET = "sandbox-secret"


def minimal_modules() -> list[str]:
    """Module names of sandbox/minimal_modules.txt."""
    names = []
    for line in MODULES_FILE.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def free_port(kind: int) -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (``kind`` is tried first)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
            with socket.socket(socket.AF_INET, other) as second:
                try:
                    second.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def write_conf(conf_dir: Path, sip_port: int, ami_port: int, rtp_start: int) -> None:
    """Write a small loopback-only Asterisk configuration."""
    conf_dir.mkdir(parents=True)
    loads = "".join(f"load => {name}\n" for name in minimal_modules())
    files = {
        "modules.conf": f"[modules]\nautoload=no\n{loads}",
        "pjsip.conf": (
            "[transport-udp]\ntype=transport\nprotocol=udp\n"
            f"bind=127.0.0.1:{sip_port}\n\n"
            "[sipp]\ntype=endpoint\ncontext=from-sipp\ndisallow=all\nallow=ulaw,gsm\n"
            "direct_media=no\nmedia_address=127.0.0.1\nbind_rtp_to_media_address=yes\n"
            "aors=sipp\n\n"
            f"[sipp]\ntype=aor\ncontact=sip:sipp@127.0.0.1:{sip_port + 1}\n"
            "qualify_frequency=0\n\n"
            "[sipp]\ntype=identify\nendpoint=sipp\nmatch=127.0.0.1\n"
        ),
        "manager.conf": (
            f"[general]\nenabled=yes\nport={ami_port}\nbindaddr=127.0.0.1\nwebenabled=no\n\n"
            f"[{AMI_USER}]\nsecret={AMI_SECRET}\ndeny=0.0.0.0/0.0.0.0\n"
            "permit=127.0.0.1/255.255.255.255\nread=all\nwrite=all\n"
        ),
        "rtp.conf": f"[general]\nrtpstart={rtp_start}\nrtpend={rtp_start + 99}\nicesupport=no\n",
        "extensions.conf": (
            "[general]\nstatic=yes\nwriteprotect=yes\n\n"
            "[from-sipp]\nexten => 100,1,Answer()\n same => n,Playback(hello-world)\n"
            " same => n,Hangup()\n"
        ),
        "queues.conf": "[general]\npersistentmembers=no\n\n[pytest-support]\nstrategy=rrmemory\n",
        "cdr_manager.conf": "[general]\nenabled=yes\n",
    }
    for name, text in files.items():
        (conf_dir / name).write_text(text)


def ami_login(port: int) -> list[str]:
    """Log in to AMI on 127.0.0.1:port; return the response lines."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rwb")
        try:
            banner = stream.readline().decode().strip()
            assert banner.startswith("Asterisk Call Manager/"), banner
            stream.write(f"Action: Login\r\nUsername: {AMI_USER}\r\nSecret: {AMI_SECRET}\r\n\r\n".encode())
            stream.flush()
            lines = []
            while (line := stream.readline()) not in (b"\r\n", b""):
                lines.append(line.decode().strip())
            stream.write(b"Action: Logoff\r\n\r\n")
            stream.flush()
        finally:
            stream.close()
    return lines


def _hex_addr(text: str) -> tuple[str, int]:
    """Decode a /proc/net/{tcp,udp}[6] ``ADDR:PORT`` field."""
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        host = socket.inet_ntop(socket.AF_INET6, words)
    return host, int(port, 16)


def listeners(pid: int) -> list[tuple[str, str, int]]:
    """(proto, host, port) of the listening TCP and bound UDP sockets of ``pid``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            if proto.startswith("tcp") and fields[3] != "0A":  # 0A = LISTEN
                continue
            host, port = _hex_addr(fields[1])
            found.append((proto[:3], host, port))
    return found


@pytest.fixture(scope="module")
def root() -> Path:
    return ensure_root(default_cache_dir())


@pytest.fixture
def make_pbx(root: Path, tmp_path: Path) -> Iterator[list[SandboxPbx]]:
    """Factory list: the test appends instances; all are stopped and removed after."""
    made: list[SandboxPbx] = []
    yield made
    for pbx in made:
        pbx.stop()
        shutil.rmtree(pbx.instance_dir, ignore_errors=True)


def new_pbx(root: Path, tmp_path: Path, made: list[SandboxPbx], tag: str) -> tuple[SandboxPbx, int, int]:
    sip, ami = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    conf = tmp_path / f"conf-{tag}"
    write_conf(conf, sip, ami, rtp_start=40000 + (os.getpid() % 50) * 200 + len(made) * 100)
    pbx = SandboxPbx(root, f"pytest-{os.getpid()}-{tag}", conf)
    made.append(pbx)
    return pbx, sip, ami


def test_instance_boots_answers_on_loopback_and_stops(root: Path, tmp_path: Path, make_pbx: list[SandboxPbx]) -> None:
    pbx, sip, ami = new_pbx(root, tmp_path, make_pbx, "a")
    with pbx:
        pid = pbx.pid
        assert pid is not None and pbx.running()
        assert "Asterisk 22" in pbx.cli("core show version")
        status = Path(f"/proc/{pid}/status").read_text()
        assert "\nUid:\t0\t" in status  # root inside the chroot, no runuser
        pjsip = pbx.cli("module show like pjsip")
        assert "chan_pjsip.so" in pjsip and "Not Running" not in pjsip
        assert "get data" in pbx.cli("agi show commands")
        assert "pytest-support has 0 calls" in pbx.cli("queue show")
        assert f"127.0.0.1:{sip}" in pbx.cli("pjsip show transports")
        assert "Message: Authentication accepted" in ami_login(ami)

        socks = listeners(pid)
        assert ("tcp", "127.0.0.1", ami) in socks
        assert ("udp", "127.0.0.1", sip) in socks
        off_loopback = [s for s in socks if s[1] not in ("127.0.0.1", "::1")]
        # Only PJSIP's two DNS resolver sockets (UDP, 0.0.0.0 and [::]) may be elsewhere.
        assert all(proto == "udp" for proto, _, _ in off_loopback), socks
        assert len(off_loopback) <= 2, socks
        with pytest.raises(PbxError, match="already running"):
            pbx.start()
    assert not pid_alive(pid)
    assert not pbx.running() and pbx.pid is None
    assert not pbx.pid_file.exists()


def test_two_instances_run_side_by_side(root: Path, tmp_path: Path, make_pbx: list[SandboxPbx]) -> None:
    first, _, ami1 = new_pbx(root, tmp_path, make_pbx, "one")
    second, _, ami2 = new_pbx(root, tmp_path, make_pbx, "two")
    first.start()
    second.start()
    pids = [first.pid, second.pid]
    assert None not in pids and pids[0] != pids[1]
    assert "Message: Authentication accepted" in ami_login(ami1)
    assert "Message: Authentication accepted" in ami_login(ami2)
    first.stop()
    assert second.running()
    assert sandbox_pbx._is_mounted(root / "proc")
    second.stop()
    assert not any(pid_alive(pid) for pid in pids if pid is not None)
    # proc stays mounted only for instances run by someone else from the same root.
    assert sandbox_pbx._is_mounted(root / "proc") == bool(sandbox_pbx.live_instances(root))


def test_failed_start_reports_console_tail(root: Path, tmp_path: Path, make_pbx: list[SandboxPbx]) -> None:
    pbx, _, _ = new_pbx(root, tmp_path, make_pbx, "bad")
    with (pbx.conf_dir / "modules.conf").open("a") as conf:
        conf.write("require => res_does_not_exist.so\n")
    with pytest.raises(PbxError, match=r"(?s)exited during startup.*res_does_not_exist"):
        pbx.start(timeout=15)
    assert not pbx.running()
    assert not pbx.pid_file.exists()


def test_install_sounds(root: Path, tmp_path: Path, make_pbx: list[SandboxPbx]) -> None:
    pbx, _, _ = new_pbx(root, tmp_path, make_pbx, "snd")
    src = tmp_path / "prompts"
    src.mkdir()
    (src / "bienvenue.wav").write_bytes(b"RIFF0000WAVE")
    subdir = f"pytest-{os.getpid()}"
    dest = pbx.install_sounds(src, subdir)
    try:
        assert dest == root / "usr/share/asterisk/sounds/fr" / subdir
        assert (root / "usr/share/asterisk/sounds/fr_CA_f_June" / subdir / "bienvenue.wav").is_file()
        with pytest.raises(ValueError):
            pbx.install_sounds(src, "../escape")
    finally:
        shutil.rmtree(dest)
