"""Fast checks of the pure parts: source filter, trunk table, SIP header reading, playout buffer."""

from __future__ import annotations

from sip.media import PlayoutBuffer
from sip.security import SourceFilter
from sip.sipmsg import headers, source_ip, uri_user
from sip.trunks import Trunk, TrunkTable, dialled_number


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flood_bans_a_source_for_the_ban_time_then_lets_it_back() -> None:
    clock = Clock()
    f = SourceFilter(flood_limit_per_10s=2, ban_seconds=60, clock=clock)
    ok = [f.check("10.0.0.1", user_agent="pbx", size=500, trusted=True, registered=False).status for _ in range(3)]
    assert ok == [0, 0, 403]
    assert f.check("10.0.0.2", user_agent="pbx", size=500, trusted=True, registered=False).allowed
    clock.now += 59
    assert f.banned("10.0.0.1")
    clock.now += 2
    assert f.check("10.0.0.1", user_agent="pbx", size=500, trusted=True, registered=False).allowed


def test_untrusted_scanner_and_oversize_invites_are_refused() -> None:
    f = SourceFilter(blocked_user_agents=("friendly-scanner",), max_message_bytes=4000)
    assert f.check("1.2.3.4", user_agent="x", size=100, trusted=False, registered=False).status == 403
    assert f.check("1.2.3.4", user_agent="Friendly-Scanner 1.0", size=100, trusted=True,
                   registered=False).status == 403
    assert f.check("1.2.3.4", user_agent="x", size=9000, trusted=True, registered=False).status == 413


def test_trunk_table_matches_cidrs_and_the_registrar_address() -> None:
    table = TrunkTable([Trunk("pbx", allowed_cidrs=("192.168.10.0/24",)),
                        Trunk("carrier", registrar="sip:127.0.0.3:5070", username="u", password="p", realm="r")],
                       extra_trusted=["10.1.1.1/32"])
    assert table.trunk_for("192.168.10.77") == "pbx"
    assert table.trunk_for("127.0.0.3") == "carrier"
    assert table.trunk_for("10.1.1.1") == ""
    assert table.trunk_for("192.168.11.1") is None


def test_sip_headers_and_dialled_number_are_read_from_the_invite() -> None:
    msg = ("INVITE sip:+4930123@pbx.local SIP/2.0\r\nv: SIP/2.0/UDP 1.2.3.4\r\nf: <sip:0171555@pbx>;tag=1\r\n"
           "User-Agent: Asterisk PBX\r\nContent-Length: 0\r\n\r\n")
    line, hdrs = headers(msg)
    assert line.startswith("INVITE") and hdrs["user-agent"] == "Asterisk PBX" and uri_user(hdrs["from"]) == "0171555"
    assert dialled_number("sip:+4930123@pbx.local", "<sip:other@x>") == "+4930123"
    assert source_ip("[::1]:5060") == "::1" and source_ip("10.0.0.1:5060") == "10.0.0.1"


def test_playout_buffer_fires_marks_in_order_and_clear_drops_pending_marks() -> None:
    buf = PlayoutBuffer()
    buf.write(b"\1\0" * 320)
    buf.mark("a")
    buf.write(b"\1\0" * 320)
    buf.mark("b")
    chunk, audio, marks = buf.read(640)
    assert len(chunk) == 640 and marks == ["a"]
    assert buf.clear() == 640
    chunk, audio, marks = buf.read(640)
    assert audio == b"" and chunk == b"\0" * 640 and marks == []
