"""How the tools print things: times people read, counts in the right number, one word for no handler."""

from __future__ import annotations

from infra.local.views import aligned, count, handler_label, human_time, shown, summarize


def test_a_unix_time_is_shown_with_its_date_and_how_long_ago() -> None:
    now = 1_796_238_431.0
    assert human_time(1_796_238_431 - 120, now) == "2026-12-02 19:05:11 UTC, 2 min ago"
    assert human_time(1_796_238_431 + 6 * 86_400, now).endswith("in 6 days")
    assert human_time(1_796_238_431, now).endswith("just now")
    assert shown("evidence_due_by", 1_796_238_431).startswith("1796238431 (2026-12-02 19:07:11 UTC")
    assert shown("amount", 1_796_238_431) == "1796238431"  # an amount is not a time
    assert "current_period_end=1796238431 (2026-12-02" in summarize({"current_period_end": 1_796_238_431})


def test_counts_are_in_the_right_number() -> None:
    assert [count(1, "delivery"), count(3, "delivery"), count(2, "message"), count(0, "event")] == [
        "1 delivery",
        "3 deliveries",
        "2 messages",
        "0 events",
    ]


def test_an_event_no_handler_takes_is_called_unhandled_everywhere() -> None:
    assert handler_label(None) == handler_label("none") == "unhandled"
    assert handler_label("billing") == "handler=billing"


def test_columns_line_up_whatever_the_length_of_an_id() -> None:
    lines = aligned(
        [
            (
                "11:06:20",
                "evt_test_65R9Ijk8f2Bs3BR3d3s16RwoPFSQq6iGnCMB7c55914e",
                "v1.product.created",
                "unhandled",
            ),
            ("10:57:00", "evt_0b93ab4af19954e11fb37b9d", "product.created", "handler=catalog"),
        ]
    )

    first, second = lines
    assert first.index("v1.product.created") == second.index("product.created")  # one column
    assert first.index("unhandled") == second.index("handler=catalog")
