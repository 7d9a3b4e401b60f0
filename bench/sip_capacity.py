"""SIP capacity benchmark: SIPp places N concurrent calls with RTP against a listen-only agent.

For N in a rising sequence, SIPp opens N calls at `--rate` calls/s, streams µ-law audio on each for
`--hold` seconds and hangs up. A step passes when every call completed and every call's audio reached the
agent (at least 80 % of the expected 20 ms frames were voiced). Prints one table: highest N with 0 failures,
call setup time (INVITE -> 200) p50/p95, our process CPU per step, and the machine.

    .venv/bin/python -m bench.sip_capacity [--steps 25,50,100,150,200] [--hold 10] [--ptime 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from appliance.audio import AudioFrame, rms_dbfs, ulaw_encode
from sip.endpoint import EndpointConfig
from sip.leg import SipCallLeg
from sip.trunks import TrunkTable
from sip.ua import Accept, Gates, IncomingCall, SipUserAgent

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="capacity">
  <send retrans="500"><![CDATA[
INVITE sip:agent@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:agent@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:agent@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <nop><action><exec rtp_stream="@RTPFILE@,-1,0"/></action></nop>
  <pause milliseconds="@HOLDMS@"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500"><![CDATA[
BYE sip:agent@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000"/>
</scenario>
"""


@dataclass
class Step:
    calls: int
    completed: int
    failed: int
    media_ok: int
    setup_p50_ms: float
    setup_p95_ms: float
    cpu_pct: float  # our process, % of one core, during the step
    passed: bool


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_step(ua: SipUserAgent, frames: dict[str, int], tmp: Path, calls: int, rate: int,
                   hold_s: float) -> Step:
    frames.clear()
    xml = tmp / "capacity.xml"
    xml.write_text(SCENARIO.replace("@RTPFILE@", str(tmp / "tone.ul")).replace("@HOLDMS@",
                                                                                 str(int(hold_s * 1000))))
    for old in list(tmp.glob("*_rtt.csv")):  # noqa: ASYNC240 - a few small files between steps
        old.unlink()
    cpu0, wall0 = time.process_time(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        shutil.which("sipp") or "sipp", f"127.0.0.1:{ua.port}", "-sf", str(xml), "-m", str(calls),
        "-l", str(calls), "-r", str(rate), "-i", "127.0.0.1", "-p", str(_free_port()), "-mp", "50000",
        "-timeout", f"{int(hold_s + 60)}s", "-timeout_error", "-nostdin", "-trace_rtt", "-rtt_freq", "1",
        "-trace_stat", "-stf", str(tmp / "stat.csv"), "-trace_err", "-error_file", str(tmp / "err.log"),
        cwd=tmp, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await proc.wait()
    cpu = 100.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    setups = []
    for rtt in list(tmp.glob("*_rtt.csv")):  # noqa: ASYNC240 - after the step, nothing else runs
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2 and parts[1].replace(".", "").isdigit():  # Date_ms;response_time_ms;rtd_no
                setups.append(float(parts[1]))
    completed, failed = _stat_counts(tmp / "stat.csv")
    expected = hold_s * 50
    media_ok = sum(1 for n in frames.values() if n >= 0.8 * expected)
    p50 = float(np.percentile(setups, 50)) if setups else float("nan")
    p95 = float(np.percentile(setups, 95)) if setups else float("nan")
    return Step(calls, completed, failed, media_ok, round(p50, 1), round(p95, 1), round(cpu, 1),
                proc.returncode == 0 and failed == 0 and media_ok == calls)


def _stat_counts(path: Path) -> tuple[int, int]:
    if not path.exists():
        return 0, -1
    rows = [line.split(";") for line in path.read_text().splitlines() if line.strip()]
    if len(rows) < 2:
        return 0, -1
    head, last = rows[0], rows[-1]
    return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])


async def bench(steps: list[int], hold_s: float, rate: int, ptime: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="vocaliq-sipcap-"))
    t = np.arange(8000 * 2) / 8000
    (tmp / "tone.ul").write_bytes(ulaw_encode(AudioFrame.from_array(
        (0.3 * np.sin(2 * np.pi * 400 * t)).astype(np.float32), 8000)))
    frames: dict[str, int] = {}

    async def listen_only(call: IncomingCall) -> Accept:
        async def run(leg: SipCallLeg) -> None:
            frames[leg.call_id] = 0
            async for frame in leg.frames():
                if rms_dbfs(frame) > -30:
                    frames[leg.call_id] = frames.get(leg.call_id, 0) + int(frame.duration_ms // 20)
        return Accept(run)

    most = max(steps)
    config = EndpointConfig(host="127.0.0.1", port=_free_port(), transports=("udp",), max_calls=most + 16,
                            rtp_port_start=20000, rtp_port_range=4 * most + 100, ptime_ms=ptime)
    gates = Gates(trunks=TrunkTable(extra_trusted=["127.0.0.1/32"]), max_calls=most + 8)
    gates.source_filter.flood_limit_per_10s = 100_000
    results: list[Step] = []
    async with SipUserAgent(config, on_incoming=listen_only, gates=gates) as ua:
        for n in steps:
            step = await run_step(ua, frames, tmp, n, rate, hold_s)
            results.append(step)
            print(f"  N={n}: completed {step.completed}, failed {step.failed}, media ok {step.media_ok}, "
                  f"setup p50 {step.setup_p50_ms} ms p95 {step.setup_p95_ms} ms, cpu {step.cpu_pct} %", flush=True)
            if not step.passed:
                break
            await asyncio.sleep(2)
    if os.environ.get("KEEP") is None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(tmp)
    best = max((s.calls for s in results if s.passed), default=0)
    return {"highest_n_without_failures": best, "ptime_ms": ptime, "hold_s": hold_s,
            "steps": [asdict(s) for s in results],
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_implementation()} "
                       f"{platform.python_version()}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="25,50,100,150,200,250")
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=50, help="new calls per second")
    parser.add_argument("--ptime", type=int, default=20, choices=(20, 40))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    result = asyncio.run(bench([int(s) for s in args.steps.split(",")], args.hold, args.rate, args.ptime))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\nSIP capacity (listen-only agent, RTP PCMU, ptime {args.ptime} ms, hold {args.hold:.0f} s) "
          f"on {result['machine']}")
    print(f"{'figure':<34}{'unit':<8}{'p50':>10}{'p95':>10}")
    for step in result["steps"]:  # type: ignore[attr-defined]
        tag = "ok" if step["passed"] else "FAILED"
        print(f"{'setup, N=' + str(step['calls']) + ' (' + tag + ')':<34}{'ms':<8}{step['setup_p50_ms']:>10}"
              f"{step['setup_p95_ms']:>10}   cpu {step['cpu_pct']} %")
    print(f"{'highest N with 0 failures':<34}{'calls':<8}{result['highest_n_without_failures']:>10}")


if __name__ == "__main__":
    main()
