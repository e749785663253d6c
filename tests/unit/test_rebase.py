"""Availability for callers already waiting: the re-base planner (``routing.rebase``) on the real
rules, and the service's rounds (``aiguilleur.availability``) against a fake app_queue that feeds
the real live-state reducer.

A craftsman in difficulty (difficulty, crafts, 1-9 staff, Nord) ranks CMA first, CCI second,
everyone else third: queue ``rank-cma-cci`` (checked against the YAML below).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from aiguilleur.availability import AvailabilityRebaser, RebasingRulesEngine, members_by_queue
from config.models import Hotline
from queues.ami import AmiActionError, AmiNotConnected
from queues.snapshot import queue_outlook
from queues.state import LiveState, StateConfig
from queues.state_seed import LiveStateSeed
from routing.rebase import QueueMembers, apply_plan, plan_rebase, shift_of, target_penalties
from routing.router import CallerProfile, QueueOutlook, choose_queue, decide, member_penalties, queue_names
from routing.rules import MemberChange, SetPenalty

CRAFTSMAN = CallerProfile("0321000000", need="difficulty", sector="crafts", size="micro", departement="nord")
CMA_FIRST = "rank-cma-cci"
NOBODY: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- helpers


def lines_of(hotline: Hotline, *partners: str) -> frozenset[str]:
    return frozenset(line for line, p in hotline.lines() if p.id in partners)


def config_state(
    hotline: Hotline, paused: Iterable[str] = (), logged_out: Iterable[str] = ()
) -> dict[str, QueueMembers]:
    """Every queue at its config penalties, with some lines paused (everywhere) or logged out."""
    out = frozenset(logged_out)
    away = frozenset(paused)
    state = {}
    for queue in queue_names(hotline):
        penalties = {line: p for line, p in member_penalties(hotline, queue).items() if line not in out}
        state[queue] = QueueMembers(penalties, away & frozenset(penalties))
    return state


def pause(state: Mapping[str, QueueMembers], lines: Iterable[str], paused: bool = True) -> dict[str, QueueMembers]:
    chosen = frozenset(lines)
    return {
        q: QueueMembers(m.penalties, (m.paused | (chosen & frozenset(m.penalties))) if paused else m.paused - chosen)
        for q, m in state.items()
    }


def by_partner(hotline: Hotline, penalties: Mapping[str, int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for line, penalty in penalties.items():
        partner = hotline.partner_of(line)
        assert partner is not None
        out.setdefault(partner.id, set()).add(penalty)
    return out


def settle(hotline: Hotline, state: Mapping[str, QueueMembers]) -> dict[str, QueueMembers]:
    return apply_plan(state, plan_rebase(hotline, state))


# --------------------------------------------------------------------------- the planner


def test_the_craftsman_ranks_cma_then_cci(hotline: Hotline) -> None:
    assert choose_queue(CRAFTSMAN, hotline) == CMA_FIRST
    assert by_partner(hotline, member_penalties(hotline, CMA_FIRST)) == {
        "cma": {0}, "cci": {1}, "direccte": {2}, "region": {2}, "mel": {2}}


def test_best_tier_all_paused_moves_the_next_tier_to_0_and_everyone_up_by_one(hotline: Hotline) -> None:
    state = config_state(hotline, paused=lines_of(hotline, "cma"))
    changes = plan_rebase(hotline, state)

    mine = {c.line: c.penalty for c in changes if c.queue == CMA_FIRST}
    assert by_partner(hotline, mine) == {"cci": {0}, "direccte": {1}, "region": {1}, "mel": {1}}
    # The paused CMA lines are already at 0: nothing to send for them.
    assert not lines_of(hotline, "cma") & set(mine)
    assert all(isinstance(c, SetPenalty) for c in changes)
    assert by_partner(hotline, settle(hotline, state)[CMA_FIRST].penalties) == {
        "cma": {0}, "cci": {0}, "direccte": {1}, "region": {1}, "mel": {1}}


def test_only_queues_whose_best_tier_is_away_change(hotline: Hotline) -> None:
    cma = lines_of(hotline, "cma")
    changes = plan_rebase(hotline, config_state(hotline, paused=cma))
    touched = {c.queue for c in changes}

    for queue in queue_names(hotline):
        config = member_penalties(hotline, queue)
        best = {line for line, p in config.items() if p == min(config.values())}
        assert (queue in touched) == (best <= cma and queue != hotline.queues.general_queue), queue
    assert "partner-cma" in touched and "rank-cma_cci-mel" not in touched  # a tie keeps CCI at 0


def test_best_tier_back_restores_the_config_tiers(hotline: Hotline) -> None:
    cma = lines_of(hotline, "cma")
    rebased = settle(hotline, config_state(hotline, paused=cma))
    back = pause(rebased, ["cma-04"], paused=False)  # one CMA line is back

    restored = settle(hotline, back)
    assert {q: m.penalties for q, m in restored.items()} == {q: m.penalties for q, m in config_state(hotline).items()}
    assert plan_rebase(hotline, restored) == []


def test_planning_again_on_the_result_changes_nothing(hotline: Hotline) -> None:
    state = config_state(hotline, paused=lines_of(hotline, "cma", "cci"))
    once = settle(hotline, state)
    assert plan_rebase(hotline, state)  # something to do the first time
    assert plan_rebase(hotline, once) == []


def test_logged_out_counts_as_paused(hotline: Hotline) -> None:
    cma = lines_of(hotline, "cma")
    paused = settle(hotline, config_state(hotline, paused=cma))
    gone = settle(hotline, config_state(hotline, logged_out=cma))

    for queue, members in gone.items():
        assert members.penalties == {line: p for line, p in paused[queue].penalties.items() if line not in cma}, queue
    # No change is ever planned for a line that is not a member (QueuePenalty would fail).
    assert not {c.line for c in plan_rebase(hotline, config_state(hotline, logged_out=cma))} & cma


@pytest.mark.parametrize("away", [
    set(), {"cma-01"}, {f"cma-0{n}" for n in range(1, 8)}, {f"cci-0{n}" for n in range(1, 9)},
], ids=["nobody", "one CMA line", "all CMA lines but one", "every CCI line"])
def test_nothing_to_do_while_the_best_tier_has_a_line_present(hotline: Hotline, away: set[str]) -> None:
    state = config_state(hotline, paused=away)
    assert [c for c in plan_rebase(hotline, state) if c.queue == CMA_FIRST] == []
    if not away:
        assert plan_rebase(hotline, state) == []


def test_a_queue_with_nobody_present_is_left_as_it_is(hotline: Hotline) -> None:
    rebased = settle(hotline, config_state(hotline, paused=lines_of(hotline, "cma")))
    everyone = frozenset(line for line, _ in hotline.lines())
    assert plan_rebase(hotline, pause(rebased, everyone)) == []
    assert target_penalties(hotline, CMA_FIRST, QueueMembers({}, NOBODY)) is None
    assert shift_of({"a": 0, "b": 1}, ["c"]) is None


def test_partner_queue_rings_the_others_at_once_while_its_partner_is_away(hotline: Hotline) -> None:
    floor = hotline.queues.skill_penalty_floor
    state = config_state(hotline, paused=lines_of(hotline, "cma"))
    assert by_partner(hotline, state["partner-cma"].penalties)["cci"] == {floor}

    rebased = settle(hotline, state)["partner-cma"].penalties
    assert set(rebased.values()) == {0}


def test_the_general_queue_guests_and_unknown_queues_are_never_touched(hotline: Hotline) -> None:
    general = hotline.queues.general_queue
    state = config_state(hotline, paused=lines_of(hotline, "cma"))
    state[general] = QueueMembers({"cma-01": 5, "cci-01": 3}, frozenset({"cma-01"}))  # not its config
    state["rank-nobody-knows"] = QueueMembers({"cci-01": 4}, NOBODY)
    state[CMA_FIRST] = QueueMembers({**state[CMA_FIRST].penalties, "guest-01": 7}, state[CMA_FIRST].paused)

    changes = plan_rebase(hotline, state)
    assert {c.queue for c in changes}.isdisjoint({general, "rank-nobody-knows"})
    assert "guest-01" not in {c.line for c in changes}


def test_a_line_at_a_penalty_someone_else_set_is_brought_to_its_target(hotline: Hotline) -> None:
    state = config_state(hotline)
    state[CMA_FIRST] = QueueMembers({**state[CMA_FIRST].penalties, "cci-03": 7}, NOBODY)
    assert plan_rebase(hotline, state) == [SetPenalty("cci-03", CMA_FIRST, 1)]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_mix_of_absences_settles_in_one_round_keeps_the_order_and_starts_at_0(
    hotline: Hotline, data: st.DataObject
) -> None:
    lines = sorted(line for line, _ in hotline.lines())
    paused = data.draw(st.frozensets(st.sampled_from(lines)), label="paused")
    out = data.draw(st.frozensets(st.sampled_from(lines)), label="logged out")
    # Start anywhere: config tiers, or an earlier round's result for other absences.
    earlier = data.draw(st.frozensets(st.sampled_from(lines)), label="earlier paused")
    state = pause(settle(hotline, config_state(hotline, paused=earlier, logged_out=out)), paused)
    state = {q: QueueMembers(m.penalties, m.paused - (earlier - paused)) for q, m in state.items()}

    result = settle(hotline, state)
    assert plan_rebase(hotline, result) == []
    for queue, members in result.items():
        config = member_penalties(hotline, queue)
        present = members.present()
        if queue == hotline.queues.general_queue or not present:
            continue
        assert min(members.penalties[line] for line in present) == 0, queue
        for a in members.penalties:  # the ranking among members is kept (ties may form below 0)
            for b in members.penalties:
                if config[a] < config[b]:
                    assert members.penalties[a] <= members.penalties[b], (queue, a, b)
        if frozenset(members.penalties) == frozenset(config) and not members.paused:
            assert members.penalties == config, queue  # nobody away: the config's tiers


def test_a_rebased_queue_does_not_shift_the_new_callers_start_twice(hotline: Hotline) -> None:
    """The router reads the live penalties: re-based, the best present tier is already 0."""
    state = config_state(hotline, paused=lines_of(hotline, "cma"))[CMA_FIRST]
    rebased = settle(hotline, {CMA_FIRST: state})[CMA_FIRST]
    first = hotline.queues.escalation[0].max_penalty

    def entry(members: QueueMembers) -> tuple[int, frozenset[str]]:
        outlook = QueueOutlook(frozenset(members.penalties), members.paused, None, members.penalties)
        decision = decide(CRAFTSMAN, hotline, outlook)
        assert decision.queue == CMA_FIRST
        reachable = frozenset(line for line, p in decision.penalties.items() if p <= decision.max_penalty)
        return decision.max_penalty, reachable

    # Whether the caller arrives before the round or after it, the same lines ring first: CCI's.
    assert entry(state) == (1 + first, lines_of(hotline, "cci"))
    assert entry(rebased) == (first, lines_of(hotline, "cci"))


# --------------------------------------------------------------------------- the service's rounds


class FakeAppQueue:
    """app_queue's members as data, telling a real ``LiveState`` (and the rebaser) every change."""

    def __init__(self, hotline: Hotline, live: LiveState, paused: Iterable[str] = ()) -> None:
        self.live = live
        self.listeners: list[Any] = []
        self.members = {q: dict(member_penalties(hotline, q)) for q in queue_names(hotline)}
        self.paused: dict[str, set[str]] = {q: set(paused) for q in self.members}
        self.sent: list[MemberChange] = []
        self.fail: dict[tuple[str, str], Exception] = {}
        self.callers: dict[str, int] = {}
        live.load(LiveStateSeed(1000.0, (), tuple(
            self._fields(q, line) for q, members in self.members.items() for line in members), ()))

    def _fields(self, queue: str, line: str, event: str | None = None) -> dict[str, str]:
        fields = {"Queue": queue, "MemberName": line, "Interface": f"PJSIP/{line}", "Membership": "dynamic",
                  "Penalty": str(self.members[queue][line]), "Paused": "1" if line in self.paused[queue] else "0",
                  "Status": "1"}
        if event is not None:
            fields["Event"] = event
        return fields

    def _emit(self, event: dict[str, str]) -> None:
        self.live.apply(event)
        for listener in self.listeners:
            listener(event)

    async def apply_change(self, change: MemberChange) -> None:
        await asyncio.sleep(0)
        assert isinstance(change, SetPenalty)
        failure = self.fail.get((change.line, change.queue))
        if failure is not None:
            raise failure
        self.sent.append(change)
        self.members[change.queue][change.line] = change.penalty
        self._emit(self._fields(change.queue, change.line, "QueueMemberPenalty"))

    def pause(self, lines: Iterable[str], paused: bool = True) -> None:
        for line in lines:
            for queue in self.members:
                (self.paused[queue].add if paused else self.paused[queue].discard)(line)
                self._emit(self._fields(queue, line, "QueueMemberPause"))

    def join(self, queue: str, uniqueid: str) -> None:
        self._emit({"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": uniqueid, "Position": "1"})

    def penalties(self, queue: str) -> dict[str, int]:
        return dict(self.members[queue])


@pytest.fixture
def app_queue(hotline: Hotline) -> FakeAppQueue:
    return FakeAppQueue(hotline, LiveState(StateConfig.from_hotline(hotline)))


def make_rebaser(hotline: Hotline, app_queue: FakeAppQueue, **kwargs: Any) -> AvailabilityRebaser:
    rebaser = AvailabilityRebaser(app_queue.live.snapshot, lambda: hotline, app_queue.apply_change, **kwargs)
    app_queue.listeners.append(rebaser.on_event)
    return rebaser


@contextlib.asynccontextmanager
async def rounds_running(rebaser: AvailabilityRebaser) -> AsyncIterator[None]:
    """The service's round task, for the length of a test; cancelled and awaited after."""
    task = asyncio.create_task(rebaser.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Any, timeout: float = 2.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (polls the fake's state, which has no event to wait on)
            await asyncio.sleep(0.01)


async def test_a_pause_burst_gives_one_round_that_rebases_and_then_settles(
    hotline: Hotline, app_queue: FakeAppQueue
) -> None:
    rebaser = make_rebaser(hotline, app_queue, debounce=0.05)
    async with rounds_running(rebaser):
        app_queue.pause(lines_of(hotline, "cma"))  # 8 lines x every queue: one burst
        # Whole rounds, not wall-clock: on a loaded machine a round of hundreds of changes takes a while.
        await until(lambda: rebaser.rounds >= 1, timeout=20)
        await asyncio.sleep(0.3)  # our own penalty events asked for a round: it plans nothing
        async with rebaser.lock:  # that round, if it runs, has ended
            assert rebaser.rounds == 1
        assert by_partner(hotline, app_queue.penalties(CMA_FIRST))["cci"] == {0}
        expected = plan_rebase(hotline, config_state(hotline, paused=lines_of(hotline, "cma")))
        assert sorted(app_queue.sent, key=repr) == sorted(expected, key=repr)
        assert plan_rebase(hotline, members_by_queue(app_queue.live.snapshot())) == []

        app_queue.pause(["cma-06"], paused=False)
        # every queue back to its tiers (one round restores them all, the first queue first)
        await until(lambda: all(app_queue.penalties(q) == member_penalties(hotline, q) for q in queue_names(hotline)),
                    timeout=20)



async def test_queues_with_callers_waiting_are_rebased_first(hotline: Hotline, app_queue: FakeAppQueue) -> None:
    rebaser = make_rebaser(hotline, app_queue)
    app_queue.join(CMA_FIRST, "caller-1")
    app_queue.pause(lines_of(hotline, "cma"))
    await rebaser.rebase_once()
    queues = [c.queue for c in app_queue.sent]
    assert queues[: queues.count(CMA_FIRST)] == [CMA_FIRST] * queues.count(CMA_FIRST)


async def test_a_failed_change_is_logged_and_skipped(hotline: Hotline, app_queue: FakeAppQueue) -> None:
    rebaser = make_rebaser(hotline, app_queue)
    app_queue.pause(lines_of(hotline, "cma"))
    app_queue.fail[("cci-02", CMA_FIRST)] = AmiActionError("Invalid interface, queuename or penalty")
    with structlog.testing.capture_logs() as logs:
        sent = await rebaser.rebase_once()
    assert sent == len(plan_rebase(hotline, config_state(hotline, paused=lines_of(hotline, "cma")))) - 1
    assert app_queue.penalties(CMA_FIRST)["cci-02"] == 1 and app_queue.penalties(CMA_FIRST)["cci-03"] == 0
    assert [e["line"] for e in logs if e["event"] == "availability.change_failed"] == ["cci-02"]


async def test_the_link_going_down_ends_the_round(hotline: Hotline, app_queue: FakeAppQueue) -> None:
    rebaser = make_rebaser(hotline, app_queue, in_flight=1)
    app_queue.pause(lines_of(hotline, "cma"))
    first = plan_rebase(hotline, members_by_queue(app_queue.live.snapshot()))[0]
    app_queue.fail[(first.line, first.queue)] = AmiNotConnected("AMI link is down")
    assert await rebaser.rebase_once() == 0
    assert app_queue.sent == []


async def test_nothing_is_planned_from_a_state_that_is_not_synced(hotline: Hotline, app_queue: FakeAppQueue) -> None:
    rebaser = make_rebaser(hotline, app_queue)
    app_queue.pause(lines_of(hotline, "cma"))
    app_queue.live.mark_unsynced()
    assert await rebaser.rebase_once() == 0 and app_queue.sent == []
    assert queue_outlook(app_queue.live.snapshot(), CMA_FIRST) is None  # the router does not trust it either


class _Desk:
    def __init__(self, app_queue: FakeAppQueue) -> None:
        self.apply_change = app_queue.apply_change


async def test_a_reconcile_puts_config_tiers_back_and_the_next_round_rebases_again(
    hotline: Hotline, app_queue: FakeAppQueue
) -> None:
    rebaser = make_rebaser(hotline, app_queue, debounce=0.05)
    engine = RebasingRulesEngine(None, None, _Desk(app_queue), lambda: hotline, None, "", rebaser=rebaser)
    async with rounds_running(rebaser):
        app_queue.pause(lines_of(hotline, "cma"))
        await until(lambda: rebaser.rounds >= 1, timeout=20)  # the whole first round, not its first queue
        await asyncio.sleep(0.3)  # our own penalty events asked for a round: it plans nothing
        async with rebaser.lock:
            assert by_partner(hotline, app_queue.penalties(CMA_FIRST))["cci"] == {0}

        # What the rules engine does after an AMI login or a rules apply: the config's tiers.
        running: dict[str, dict[str, int]] = {}
        for queue, members in app_queue.members.items():
            for line, penalty in members.items():
                running.setdefault(line, {})[queue] = penalty
        rounds = rebaser.rounds
        reconcile = asyncio.create_task(engine.reconcile_members(hotline, running))
        await asyncio.sleep(0)
        assert rebaser.lock.locked()  # no round runs in the middle of a reconcile
        assert await reconcile > 0
        assert app_queue.penalties(CMA_FIRST) == member_penalties(hotline, CMA_FIRST)

        await until(lambda: rebaser.rounds == rounds + 1, timeout=20)
        assert by_partner(hotline, app_queue.penalties(CMA_FIRST))["cci"] == {0}
        await asyncio.sleep(0.3)
        async with rebaser.lock:
            assert rebaser.rounds == rounds + 1


async def test_after_a_resync_that_reconciles_nothing_a_round_still_follows(hotline: Hotline) -> None:
    """CMA paused while the service was away: the resync reads it, no event announces it."""
    app_queue = FakeAppQueue(hotline, LiveState(StateConfig.from_hotline(hotline)), paused=lines_of(hotline, "cma"))
    rebaser = make_rebaser(hotline, app_queue, debounce=0.05)
    engine = RebasingRulesEngine(None, None, _Desk(app_queue), lambda: hotline, None, "", rebaser=rebaser)
    async with rounds_running(rebaser):
        running: dict[str, dict[str, int]] = {}
        for queue, members in app_queue.members.items():
            for line, penalty in members.items():
                running.setdefault(line, {})[queue] = penalty
        assert await engine.reconcile_members(hotline, running) == 0  # the config's tiers already
        await until(lambda: by_partner(hotline, app_queue.penalties(CMA_FIRST))["cci"] == {0})
