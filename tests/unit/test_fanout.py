"""The fan-out books (udb/fanout.py) with an upstream that records its commands and confirms
on request; test_redis_pubsub.py runs the same books against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from udb.errors import Unavailable
from udb.fanout import SlowSubscriber, Subscriber, SubscriptionClosed, Topics


class Upstream:
    """Records subscribe/unsubscribe commands; confirms each name at once unless held."""

    def __init__(self, topics_of: list[Topics[str]], *, confirm: bool = True) -> None:
        self.commands: list[tuple[str, list[bytes], list[bytes]]] = []
        self.topics_of = topics_of
        self.confirm = confirm

    async def subscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        self.commands.append(("subscribe", channels, patterns))
        if self.confirm:
            for channel in channels:
                self.topics_of[0].confirmed("channel", channel)
            for pattern in patterns:
                self.topics_of[0].confirmed("pattern", pattern)

    async def unsubscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        self.commands.append(("unsubscribe", channels, patterns))


def books(*, confirm: bool = True, timeout: float = 10.0) -> tuple[Topics[str], Upstream]:
    holder: list[Topics[str]] = []
    upstream = Upstream(holder, confirm=confirm)
    topics: Topics[str] = Topics(upstream, confirm_timeout_s=timeout)
    holder.append(topics)
    return topics, upstream


def subscriber(**bounds: int) -> Subscriber[str]:
    return Subscriber(len, **bounds)


async def test_names_are_subscribed_on_first_interest_and_unsubscribed_on_the_last() -> None:
    """Two subscribers sharing a channel cause one SUBSCRIBE for it; it is unsubscribed only when
    the second leaves."""
    topics, upstream = books()
    first, second = subscriber(), subscriber()
    await topics.add(first, [b"a", b"b"], [b"p*"])
    await topics.add(second, [b"b", b"c"], [b"p*"])
    assert upstream.commands == [("subscribe", [b"a", b"b"], [b"p*"]), ("subscribe", [b"c"], [])]
    await topics.remove(first)
    assert upstream.commands[-1] == ("unsubscribe", [b"a"], [])
    await topics.remove(second)
    assert upstream.commands[-1] == ("unsubscribe", [b"b", b"c"], [b"p*"])
    assert len(topics) == 0
    assert not topics.subscribers


async def test_one_event_reaches_every_subscriber_of_its_name_only() -> None:
    """dispatch hands the same event object to each subscriber of the channel, none to others."""
    topics, _ = books()
    one, two, other = subscriber(), subscriber(), subscriber()
    await topics.add(one, [b"x"], [])
    await topics.add(two, [b"x"], [])
    await topics.add(other, [b"y"], [])
    frame = '{"type":"message"}'
    assert topics.dispatch("channel", b"x", frame) == 2
    assert await one.get() is frame
    assert await two.get() is frame
    assert other.queued == 0


async def test_a_subscriber_past_its_bound_is_ended_and_the_others_are_not() -> None:
    """A subscriber with more than max_messages waiting is ended with SlowSubscriber, its queue
    dropped; a subscriber that keeps up gets every event."""
    topics, _ = books()
    slow, fast = subscriber(max_messages=3), subscriber(max_messages=3)
    await topics.add(slow, [b"x"], [])
    await topics.add(fast, [b"x"], [])
    received = []
    for i in range(10):
        topics.dispatch("channel", b"x", str(i))
        received.append(await fast.get())
    assert received == [str(i) for i in range(10)]
    assert slow.ended and isinstance(slow.error, SlowSubscriber)
    with pytest.raises(SlowSubscriber):
        await slow.get()


async def test_add_waits_for_upstream_to_confirm_and_gives_up_cleanly() -> None:
    """add() returns once every name is confirmed; unconfirmed in time it is Unavailable and the
    subscriber keeps nothing (the name is unsubscribed)."""
    topics, upstream = books(confirm=False, timeout=0.2)
    waiting = subscriber()
    adding = asyncio.create_task(topics.add(waiting, [b"x"], []))
    await asyncio.sleep(0.05)
    assert not adding.done()
    topics.confirmed("channel", b"x")
    await adding
    late = subscriber()
    with pytest.raises(Unavailable):
        await topics.add(late, [b"y"], [])
    assert late.channels == set()
    assert upstream.commands[-1] == ("unsubscribe", [b"y"], [])


async def test_fail_ends_everyone_with_the_reason() -> None:
    """fail() ends every subscriber with the error (or closed without one) and forgets the names."""
    topics, _ = books()
    first, second = subscriber(), subscriber()
    await topics.add(first, [b"x"], [])
    await topics.add(second, [], [b"p*"])
    topics.fail(Unavailable("gone"))
    with pytest.raises(Unavailable):
        await first.get()
    with pytest.raises(Unavailable):
        await second.get()
    assert len(topics) == 0
    closed = subscriber()
    closed.end(None)
    with pytest.raises(SubscriptionClosed):
        await closed.get()


async def test_broadcast_gives_each_subscriber_its_own_event() -> None:
    """broadcast() builds one event per subscriber (a notice naming its own subscriptions)."""
    topics, _ = books()
    one, two = subscriber(), subscriber()
    await topics.add(one, [b"a"], [])
    await topics.add(two, [b"b"], [])
    topics.broadcast(lambda s: ",".join(sorted(c.decode() for c in s.channels)))
    assert (await one.get(), await two.get()) == ("a", "b")


async def test_a_batch_takes_what_waits_in_order_and_stops_at_the_end() -> None:
    """get_batch returns every queued event in order (at most limit); after an end the next
    call raises."""
    one = subscriber()
    for i in range(5):
        one.offer(str(i))
    assert await one.get_batch(limit=3) == ["0", "1", "2"]
    one.offer("5")
    one.end(None)
    with pytest.raises(SubscriptionClosed):
        await one.get_batch()
