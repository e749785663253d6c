import wave
from pathlib import Path

from config.models import Hotline
from ivr.prompt_audio import generate
from ivr.prompts import catalogue


def write_wav(path: Path, frames: int) -> None:
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * frames)


def test_prompts_are_8khz_mono_and_regenerated_only_when_their_text_changes(tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    assert generate({"goodbye": "Au revoir."}, out) == ["goodbye"]
    with wave.open(str(out / "goodbye.wav")) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 4000  # more than half a second of speech
    assert generate({"goodbye": "Au revoir."}, out) == []
    assert generate({"goodbye": "Merci, au revoir."}, out) == ["goodbye"]


def test_a_recording_with_the_same_name_wins_over_synthesis(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    write_wav(recordings / "goodbye.wav", 1234)
    out = tmp_path / "prompts"
    assert generate({"goodbye": "Au revoir."}, out, recordings) == ["goodbye"]
    assert (out / "goodbye.wav").read_bytes() == (recordings / "goodbye.wav").read_bytes()
    assert generate({"goodbye": "Au revoir."}, out, recordings) == []


def test_catalogue_has_every_step_and_a_same_partner_offer_per_partner(hotline: Hotline) -> None:
    texts = catalogue(hotline)
    assert {"welcome", "closed", "next_opening", "callback_offer", "step-need", "step-departement"} <= set(texts)
    assert "la chambre de métiers et de l'artisanat" in texts["repeat-cma"]
