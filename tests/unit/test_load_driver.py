"""The load driver types what the simulated caller wants, as the real menu expects it."""

from aiguilleur.load_driver import digits_for, schedule
from config.models import Hotline
from sim.caller import PRANK_KEYS, PRANK_SILENT, REAL, Call


def test_a_caller_types_the_menu_digits_of_their_answers(hotline: Hotline) -> None:
    call = Call(1, 0.0, REAL, (("need", "creation"), ("sector", "crafts"), ("size", "micro"),
                                ("departement", "nord")))
    assert digits_for(hotline.menu, call) == ["1", "2", "2", "59"]


def test_pranks_and_advisor_requests_and_hang_ups(hotline: Hotline) -> None:
    assert digits_for(hotline.menu, Call(1, 0.0, PRANK_SILENT)) == []
    assert digits_for(hotline.menu, Call(2, 0.0, PRANK_KEYS)) == ["8", "8", "8"]
    assert digits_for(hotline.menu, Call(3, 0.0, REAL, (("need", "other"),), advisor_first=True)) == ["0"]
    answers = (("need", "difficulty"), ("sector", "commerce"))
    assert digits_for(hotline.menu, Call(4, 0.0, REAL, answers, hangup_at=1)) == ["2"]


def test_arrivals_are_compressed_into_batches(hotline: Hotline) -> None:
    calls = [Call(i, 8 * 3600.0 + 60.0 * i, REAL, (("need", "creation"),)) for i in range(30)]
    batches = schedule(hotline.menu, calls, start_s=8 * 3600.0, speedup=30.0, slice_s=10.0)
    # 30 calls a minute apart, 30x faster: one call every 2 s, five per 10-second batch.
    assert [b.at for b in batches] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert [len(b.scripts) for b in batches] == [5] * 6
    assert len({s.caller_number for b in batches for s in b.scripts}) == 30
