"""The stored exports and fetch state, without Discord: merging, the re-check window, edits and
deletions, /forget-me, exclusion, damaged files."""

from __future__ import annotations

import json

from bot.history_store import STATE, GuildArchive, known_channels

G, C, T = 111, 222, 333


def msg(i: int, author: int = 1, content: str | None = None) -> dict:
    return {"id": str(i), "type": "Default", "timestamp": f"2026-01-01T00:00:{i % 60:02d}+00:00",
            "timestampEdited": None, "content": content or f"message {i}",
            "author": {"id": str(author), "name": f"u{author}", "nickname": f"U{author}", "isBot": False}}


HEAD = {"guild": {"id": str(G), "name": "g"}, "channel": {"id": str(C), "type": "GuildTextChat", "name": "help"}}


def test_merge_adds_edits_and_deletes_only_inside_the_window(tmp_path):
    a = GuildArchive(tmp_path, G)
    r = a.merge(C, HEAD, [msg(i) for i in range(10, 20)], seen=set(range(10, 20)), floor=0)
    a.note_channel(C, name="help", kind="GuildTextChat", parent_id=None, private=False, last_id=19)
    assert (r.added, r.edited, r.deleted) == (10, 0, 0)
    assert a.recheck_floor(C, 3) == 16 and a.recheck_floor(C, 0) == 19 and a.recheck_floor(C, 50) == 0
    # a re-read of the window after 16: 17 edited, 18 gone, 20 new; 12 (outside) untouched
    fetched = [msg(17, content="edited"), msg(19), msg(20)]
    r = a.merge(C, HEAD, fetched, seen={17, 19, 20}, floor=16)
    assert (r.added, r.edited, r.deleted) == (1, 1, 1)
    data = a.read_export(C)
    assert [m["id"] for m in data["messages"]] == [str(i) for i in (10, 11, 12, 13, 14, 15, 16, 17, 19, 20)]
    assert data["messageCount"] == 10 and list(data)[:5] == ["guild", "channel", "dateRange", "exportedAt", "messages"]
    # a checkpoint (no floor) never deletes
    assert a.merge(C, HEAD, [], seen=set(), floor=None).deleted == 0


def test_events_forget_and_exclusion(tmp_path):
    a = GuildArchive(tmp_path, G)
    a.merge(C, HEAD, [msg(1, 5), msg(2, 6), msg(3, 5)])
    a.merge(T, HEAD, [msg(4, 5), msg(5, 6)])
    a.note_channel(T, name="t", kind="GuildPublicThread", parent_id=C, private=False, last_id=5)
    assert a.apply_edit(C, msg(2, 6, "new text")) and not a.apply_edit(C, msg(99, 6))
    assert a.apply_delete(C, [3, 98]) == 1
    assert [m["id"] for m in a.forget(5)] == ["1", "4"]  # message 1 in C, message 4 in T
    assert [m["id"] for m in a.read_export(C)["messages"]] == ["2"]
    assert a.read_export(C)["messages"][0]["content"] == "new text"
    # a forgotten user's messages are not stored again, by a fetch or by an edit event
    r = a.merge(C, HEAD, [msg(7, 5), msg(8, 6)])
    assert (r.added, r.dropped) == (1, 1) and not a.apply_edit(C, msg(7, 5))
    # removing a source deletes its threads' exports too; state survives a reload
    a.add_source(C, "help", "text")
    assert a.remove(C) == (True, 2) and a.exported_ids() == []
    b = GuildArchive(tmp_path, G)
    assert b.forgotten == {5} and b.sources == {}
    assert b.remove(T) == (False, 0) and b.is_excluded(T)
    b.add_source(T, "t", "public_thread")
    assert not b.is_excluded(T)


def test_damaged_export_is_fetched_again_and_state_is_named(tmp_path):
    a = GuildArchive(tmp_path, G)
    a.merge(C, HEAD, [msg(1), msg(2)])
    a.note_channel(C, name="help", kind="GuildTextChat", parent_id=None, private=False, last_id=2)
    a.save_state()
    a.export_path(C).write_text("{not json")
    assert a.read_export(C) is None and a.recheck_floor(C, 0) == 0  # everything again
    (a.folder / STATE).write_text("[")
    try:
        GuildArchive(tmp_path, G)
    except ValueError as e:
        assert STATE in str(e)
    else:
        raise AssertionError("a damaged state file must be refused")
    assert known_channels([tmp_path], G) == {}  # unreadable: nothing known, so threads are refused


def test_known_channels_merges_corpora(tmp_path):
    for corpus, cid in ((tmp_path / "a", C), (tmp_path / "b", T)):
        a = GuildArchive(corpus, G)
        a.note_channel(cid, name="x", kind="GuildPrivateThread", parent_id=9, private=True, last_id=1)
        a.save_state()
    known = known_channels([tmp_path / "a", tmp_path / "b", tmp_path / "missing"], G)
    assert set(known) == {C, T} and known[T]["private"] is True and known[T]["parent_id"] == "9"
    assert json.loads((tmp_path / "a" / "_discord" / str(G) / STATE).read_text())["version"] == 1
