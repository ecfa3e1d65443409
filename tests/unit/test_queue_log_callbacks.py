from ivr.core.distribution.commands import LineEvent
from ivr.core.queue_log import line_of


def test_a_callbacks_attempt_is_a_line_of_its_own_under_the_callbacks_id() -> None:
    connected = LineEvent("sales", "k1", "callback", 0.0, "ana", "accepted; talked with agent ana", attempt=1,
                          connected=True)
    failed = LineEvent("sales", "k1", "callback", 0.0, "ana", "No Answer|busy", attempt=2)

    assert line_of(connected, 1765101600).text() == (
        "1765101600|k1|sales|ana|CALLBACKATTEMPT|1|CONNECTED|accepted; talked with agent ana")
    assert line_of(failed, 1765101700).text() == "1765101700|k1|sales|ana|CALLBACKATTEMPT|2|FAILED|No Answer_busy"
