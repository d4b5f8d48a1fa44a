"""The not-found reply says why, escaped (issue 11); owned by the ranking branch."""

from bot.render import NOT_FOUND_TEXT, render_not_found
from retrieval.types import Answer


def test_reason_is_shown_and_escaped():
    a = Answer("Who is @everyone?", False, [], 0.02, "v1", reason="no document mentions **Sheinbaum** or <@123>")
    reply = render_not_found(a)
    assert reply.content.startswith(NOT_FOUND_TEXT)
    assert "Why: no document mentions" in reply.content
    assert "**Sheinbaum**" not in reply.content and "\\*\\*Sheinbaum\\*\\*" in reply.content
    assert "<@123>" not in reply.content and not reply.embeds


def test_without_reason_the_reply_is_unchanged():
    assert render_not_found(Answer("q", False, [], 0.0, "v1")).content == NOT_FOUND_TEXT
    assert render_not_found().content == NOT_FOUND_TEXT
