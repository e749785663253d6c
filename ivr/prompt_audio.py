"""Turn the prompt catalogue into 8 kHz audio Asterisk plays (espeak-ng + sox).

A recorded file with the same name in the recordings directory wins over the
synthesised one. Files are regenerated only when their text changes (a hash
of the text is kept beside each file).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

VOICE = "fr"


class PromptToolMissing(RuntimeError):
    code = "prompt_tool_missing"


def _text_hash(text: str) -> str:
    return hashlib.sha256(f"{VOICE}\n{text}".encode()).hexdigest()[:16]


def synthesise(text: str, target: Path) -> None:
    """Speak ``text`` in French into ``target`` (8 kHz mono 16-bit WAV)."""
    espeak = shutil.which("espeak-ng")
    sox = shutil.which("sox")
    if espeak is None or sox is None:
        raise PromptToolMissing("espeak-ng and sox are needed to generate prompts (apt-get install espeak-ng sox)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        # Arguments go as a list (no shell): the text is admin-edited data.
        subprocess.run([espeak, "-v", VOICE, "-s", "150", "-w", str(raw), "--", text], check=True,
                       capture_output=True)
        subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)], check=True,
                       capture_output=True)


def generate(catalogue: dict[str, str], out_dir: Path, recordings: Path | None = None) -> list[str]:
    """Write ``<id>.wav`` for each prompt into ``out_dir``; return the ids (re)generated."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for prompt_id, text in sorted(catalogue.items()):
        target = out_dir / f"{prompt_id}.wav"
        stamp = out_dir / f"{prompt_id}.txt-hash"
        recorded = recordings / f"{prompt_id}.wav" if recordings is not None else None
        if recorded is not None and recorded.is_file():
            wanted = "recorded:" + hashlib.sha256(recorded.read_bytes()).hexdigest()[:16]
            if not (stamp.is_file() and stamp.read_text() == wanted and target.is_file()):
                shutil.copyfile(recorded, target)
                stamp.write_text(wanted)
                changed.append(prompt_id)
            continue
        wanted = _text_hash(text)
        if stamp.is_file() and stamp.read_text() == wanted and target.is_file():
            continue
        synthesise(text, target)
        stamp.write_text(wanted)
        changed.append(prompt_id)
    return changed
