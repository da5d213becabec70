import pytest

from protocols.mqtt.topics import (
    Channel,
    Topic,
    TopicError,
    cabinet_filter,
    fleet_filter,
    parse_topic,
    topic,
)


@pytest.mark.parametrize("channel", list(Channel))
def test_topic_round_trip(channel: Channel) -> None:
    name = topic("CAB-001", channel)
    assert name == f"vf/v1/CAB-001/{channel.value}"
    assert parse_topic(name) == Topic("CAB-001", channel)


@pytest.mark.parametrize(
    "name",
    ["vf/v1/CAB-001", "vf/v2/CAB-001/events", "vf/v1/CAB 1/events", "vf/v1/CAB/nope", "x/y/z/w/v"],
)
def test_foreign_topics_are_refused(name: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(name)


def test_cabinet_id_cannot_escape_its_subtree() -> None:
    for bad in ["+", "#", "a/b", ""]:
        with pytest.raises(TopicError):
            topic(bad, Channel.CMD)


def test_filters() -> None:
    assert fleet_filter(Channel.EVENTS) == "vf/v1/+/events"
    assert fleet_filter(Channel.EVENTS, "cloud") == "$share/cloud/vf/v1/+/events"
    assert cabinet_filter("CAB-001") == "vf/v1/CAB-001/#"
