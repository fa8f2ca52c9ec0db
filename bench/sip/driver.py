#!/usr/bin/env python3
"""Concurrent bridged calls through Ringback's SIP user agent, with sipp at both ends.

One trial per concurrency level N (bench/sip/run.sh runs them; see BENCHMARKS.md, "SIP:
concurrent bridged calls"):

  sipp A (customer.xml) plays the customers' phones: it answers Ringback's INVITEs and sends
  G.711 audio (PCMU, 20 ms packets) until Ringback hangs up.
  sipp B (bot.xml, -rtp_echo) plays the voice-AI bot of the account's ai_sip_uri: it answers
  and echoes every RTP packet back to its sender.
  Ringback (the release binary, SQLite in a temporary directory) calls each customer on a
  `sip` trunk pointing at A and, once the customer answers, the bot, and relays RTP both ways:
  A -> Ringback -> B -> Ringback -> A.

sipp 3.6 sends and receives every call's RTP on one media socket per instance and does not
apply -rtp_buffsize to it, so one instance drops packets at a few hundred calls by itself. The
calls are therefore dealt to groups of at most --calls-per-sipp (250): each group is an account
with its own trunk (to its own sipp A) and ai_sip_uri (its own sipp B).

N `ai` callbacks (recording off unless --recording, max_duration_seconds D) fall due uniformly
over R seconds; the calls overlap fully from the last answer until the first duration cap (the
steady window). Measured:

  due -> INVITE: the INVITE's arrival in sipp A's message log (sipp's clock, TZ=UTC) minus the
    callback's scheduled_at, matched by X-Ringback-Callback-Id; p50, p99, max. Also A's answer
    (200 OK sent) -> B's INVITE, and A's BYE -> B's BYE at the cap.
  loss: sipp's own counters, dumped (SIGUSR2) at the start and the end of the steady window:
    RTP packets sent by the A's ("Total RTP pckts sent") against packets the B's received and
    echoed ("Total echo RTP pckts 1st stream"). Where packets were lost: each UDP socket's
    receive drops in the window (/proc/net/udp), by owner (Ringback's --rtp-ports, sipp A's and
    B's media sockets). The return leg (B's echo through Ringback to A) is checked with
    Ringback's per-call relay counters (debug log "call media relayed") over whole calls.
  CPU and memory: /proc/<pid>/stat of Ringback and the sipps, /proc/stat for the machine,
    over the steady window; Ringback's VmRSS in the window and VmHWM at the end.

Usage: driver.py --bin target/release/ringback --levels 50,100 [--duration 30] [--ramp 5]
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_pair():
    """An even UDP port whose next port is free too (sipp's media port and its +2 sibling)."""
    for _ in range(200):
        p = free_port(socket.SOCK_DGRAM) & ~1
        ok = True
        for q in (p, p + 1, p + 2, p + 3):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free UDP port pair")


def ulaw(sample):
    """G.711 mu-law encoding of a 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def write_tone(path):
    """One second of a 440 Hz tone at -10 dBFS, raw mu-law (what sipp's rtp_stream plays)."""
    data = bytes(
        ulaw(int(10362 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000)
    )
    with open(path, "wb") as f:
        f.write(data)


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, all threads
    except (OSError, IndexError):
        return None


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


def udp_counters():
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], (int(x) for x in lines[1][1:])))


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def iso_ms(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


class Api:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


# --- sipp's message log ----------------------------------------------------------------------

SEP = "-----------------------------------------------"


def sipp_messages(path):
    """(time in epoch ms, 'received'|'sent', message text) for each message of sipp's log."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return []
    out = []
    for chunk in text.split(SEP)[1:]:
        head, _, rest = chunk.partition("\n")
        stamp = head.strip()
        try:
            t = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        direction = "received" if "message received" in rest.split("\n", 1)[0] else "sent"
        message = rest.split("\n\n", 1)[1] if "\n\n" in rest else ""
        out.append((t.timestamp() * 1000, direction, message.lstrip()))
    return out


def header(message, name):
    for line in message.split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def first_line(message):
    return message.split("\n", 1)[0].strip()


# --- one trial -------------------------------------------------------------------------------


def wait_until(t):
    while True:
        left = t - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))


def screen_dumps(path, pattern):
    """The counter `pattern` in each of sipp's screen dumps, in order (None where a dump lacks
    it: sipp's last dump, at exit, may lack the rtp_stream line). sipp buffers the file, so
    it is read once sipp has exited."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return []
    dumps = text.split("Scenario Screen")[1:]
    values = []
    for dump in dumps:
        found = re.findall(pattern, dump)
        values.append(int(found[-1]) if found else None)
    return values


def screen_file(dir_, scenario):
    for name in sorted(os.listdir(dir_)):
        if name.startswith(scenario + "_") and name.endswith("_screen.log"):
            return os.path.join(dir_, name)
    return os.path.join(dir_, f"{scenario}_screen.log")


# rtp_stream's line (the pcap player's line reads the same up to "sent").
SENT_RE = r"(\d+) Total RTP pckts sent +[\d.]+ kB/s RTP OUT"
ECHO_RE = r"(\d+) Total echo RTP pckts 1st stream"


def udp_drops():
    """Each UDP socket's receive drops, by local port (/proc/net/udp, this network namespace)."""
    drops = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            port = int(fields[1].split(":")[1], 16)
            drops[port] = drops.get(port, 0) + int(fields[-1])
    return drops


def start_sipp(work, name, scenario, port, media, calls, env):
    """sipp running `scenario` in its own directory `work/name`."""
    cwd = os.path.join(work, name)
    os.makedirs(cwd)
    cmd = [
        "sipp", "-sf", scenario,
        "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media),
        "-rtp_echo", "-m", str(calls), "-l", "10000", "-nostdin",
        "-trace_msg", "-message_file", os.path.join(cwd, "messages.log"), "-trace_screen",
    ]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(cwd, "stderr.log"), "w"),
    )
    return {"proc": proc, "cmd": " ".join(cmd), "dir": cwd, "media": media, "name": name,
            "port": port, "scenario": os.path.basename(scenario)[:-4]}


def trial(args, n):
    work = tempfile.mkdtemp(prefix=f"ringback-sip-{n}-")
    db_dir = tempfile.mkdtemp(prefix="ringback-sip-db-", dir=args.db_dir) if args.db_dir else work
    db = f"sqlite://{db_dir}/rb.db"
    env = dict(os.environ, TZ="UTC")
    # Groups: one account each, with its own sipp A (its trunk) and sipp B (its ai_sip_uri),
    # so that no sipp media socket (one per sipp: sipp 3.6 shares it among calls, and its
    # -rtp_buffsize is not applied) carries more than --calls-per-sipp calls.
    groups = max(1, math.ceil(n / args.calls_per_sipp))
    tone = os.path.join(work, "tone.ulaw")
    write_tone(tone)
    with open(os.path.join(HERE, "customer.xml")) as f:
        customer_xml = f.read().replace("RTP_FILE", tone)
    with open(os.path.join(work, "customer.xml"), "w") as f:
        f.write(customer_xml)
    shutil.copy(os.path.join(HERE, "bot.xml"), os.path.join(work, "bot.xml"))

    keys = []
    for g in range(groups):
        out = subprocess.run(
            [args.bin, "accounts", "create", f"Bench {g}", "--json", "--database-url", db],
            capture_output=True, text=True, check=True,
        )
        keys.append(json.loads(out.stdout)["api_key"])
    sizes = [len(range(g, n, groups)) for g in range(groups)]
    a_sipps, b_sipps = [], []
    for g in range(groups):
        b_sipps.append(start_sipp(work, f"b{g}", os.path.join(work, "bot.xml"),
                                  free_port(socket.SOCK_DGRAM), free_udp_pair(), sizes[g], env))
        a_sipps.append(start_sipp(work, f"a{g}", os.path.join(work, "customer.xml"),
                                  free_port(socket.SOCK_DGRAM), free_udp_pair(), sizes[g], env))

    http_port = free_port(socket.SOCK_STREAM)
    sip_port = free_port(socket.SOCK_DGRAM)
    server_log = os.path.join(work, "server.log")
    server_cmd = [
        args.bin, "serve", "--listen", f"127.0.0.1:{http_port}", "--database-url", db,
        "--min-lead-seconds", "1", "--rate-limit-per-second", "0",
        "--sip-listen", f"127.0.0.1:{sip_port}", "--rtp-ports", args.rtp_ports,
        "--recordings-dir", os.path.join(work, "recordings"),
    ] + args.server_args.split()
    if args.server_nice:
        server_cmd = ["nice", "-n", str(args.server_nice)] + server_cmd
    server = subprocess.Popen(
        server_cmd, env=dict(os.environ,
                 RUST_LOG="info,sqlx=warn,hyper=warn,reqwest=warn,ringback::dialer::sip=debug"),
        stdin=subprocess.DEVNULL, stdout=open(server_log, "w"), stderr=subprocess.STDOUT,
    )
    sipps = a_sipps + b_sipps
    result = {"n": n, "groups": groups, "work": work, "commands": {
        "server": " ".join(server_cmd), "sipp_a": a_sipps[0]["cmd"],
        "sipp_b": b_sipps[0]["cmd"]}}
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("ringback did not start:\n" + open(server_log).read()[-3000:])
            time.sleep(0.05)
        for sp in sipps:
            if sp["proc"].poll() is not None:
                raise RuntimeError(f"sipp {sp['name']} exited at start:\n"
                                   + open(os.path.join(sp["dir"], "stderr.log")).read())

        apis, trunks = [], []
        for g in range(groups):
            api = Api(base, keys[g])
            status, settings = api.call("GET", "/v1/settings")
            assert status == 200, settings
            settings.update({
                "calling_window": {"start": "00:00", "end": "24:00"},
                "allow_customer_requested_times": True, "max_attempts": None,
                "attempt_window_days": 7,
                "ai_sip_uri": f"sip:bot@127.0.0.1:{b_sipps[g]['port']}",
            })
            status, body = api.call("PUT", "/v1/settings", settings)
            assert status == 200, body
            status, trunk = api.call("POST", "/v1/trunks", {
                "name": f"sipp a{g}", "kind": "sip",
                "settings": {"proxy": f"127.0.0.1:{a_sipps[g]['port']}",
                             "caller_id": "+14155550100"}})
            assert status == 201, trunk
            apis.append(api)
            trunks.append(trunk["id"])

        # N callbacks due uniformly over the ramp, dealt round-robin to the groups.
        t0_ms = int((time.time() + args.lead) * 1000)
        ramp_ms = int(args.ramp * 1000)
        due = {}
        per_group = [[] for _ in range(groups)]
        for i in range(n):
            per_group[i % groups].append({
                "phone": f"+1415555{i:04d}", "scheduled_at": iso_ms(t0_ms + ramp_ms * i // n),
                "trunk_id": trunks[i % groups], "dialing_mode": "ai",
                "recording_enabled": args.recording, "max_duration_seconds": args.duration,
                "contact_name": f"Customer {i}",
            })
        for g in range(groups):
            items = per_group[g]
            for start in range(0, len(items), 1000):
                chunk = items[start:start + 1000]
                status, body = apis[g].call("POST", "/v1/callbacks/batch", {"callbacks": chunk})
                assert status == 200, body
                for item, r in zip(chunk, body["results"]):
                    assert r["status"] == "created", r
                    due[r["id"]] = datetime.strptime(
                        item["scheduled_at"], "%Y-%m-%dT%H:%M:%S.%fZ"
                    ).replace(tzinfo=timezone.utc).timestamp() * 1000
        if time.time() * 1000 > t0_ms - 500:
            raise RuntimeError("creating the callbacks took longer than the lead; raise --lead")

        # Sampling: once a second, CPU of each process, the machine, Ringback's RSS.
        samples = []
        stop = threading.Event()

        def ticks(group):
            vals = [cpu_ticks(sp["proc"].pid) for sp in group]
            return None if None in vals else sum(vals)

        def sample():
            while not stop.is_set():
                busy, total = machine_ticks()
                samples.append({
                    "t": time.time(), "server": cpu_ticks(server.pid), "a": ticks(a_sipps),
                    "b": ticks(b_sipps), "busy": busy, "total": total,
                    "rss": status_kb(server.pid, "VmRSS"),
                })
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        t0 = t0_ms / 1000
        window = (t0 + args.ramp + args.settle, t0 + args.duration - 2)
        if window[1] - window[0] < 5:
            raise RuntimeError("no steady window: raise --duration or lower --ramp/--settle")
        snaps = []
        for t in window:
            wait_until(t)
            for sp in sipps:
                if sp["proc"].poll() is None:
                    sp["proc"].send_signal(signal.SIGUSR2)
            snaps.append({"t": t, "snmp": udp_counters(), "drops": udp_drops()})
        if args.profile:
            # perf over part of the window (needs perf and a kernel that allows it).
            subprocess.run(["perf", "record", "-g", "-o", os.path.join(work, "perf.data"),
                            "-p", str(server.pid), "--", "sleep", "5"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The calls end at their cap; sipp exits once its calls have ended.
        end_by = t0 + args.ramp + args.duration + 90
        for sp in sipps:
            p = sp["proc"]
            try:
                p.wait(timeout=max(1, end_by - time.time()))
            except subprocess.TimeoutExpired:
                print(f"  sipp {sp['name']} still running at the time limit; stopping it",
                      file=sys.stderr)
                p.send_signal(signal.SIGUSR1)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        stop.set()
        sampler.join()
        hwm = status_kb(server.pid, "VmHWM")

        # Outcomes, read before the server stops.
        outcomes = {}
        for api in apis:
            cursor = None
            while True:
                path = "/v1/callbacks?limit=200" + (f"&cursor={cursor}" if cursor else "")
                status, page = api.call("GET", path)
                assert status == 200, page
                for cb in page["data"]:
                    key = f"{cb['status']}/{cb.get('outcome')}"
                    outcomes[key] = outcomes.get(key, 0) + 1
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        # The server's own view of dispatch lateness (due -> the dispatch starting).
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            metrics_text = r.read().decode()
        with open(os.path.join(work, "metrics.txt"), "w") as f:
            f.write(metrics_text)
        lateness_buckets = []
        for line in metrics_text.splitlines():
            m = re.match(r'ringback_dispatch_lateness_seconds_bucket\{.*le="([^"]+)"\} (\d+)', line)
            if m:
                lateness_buckets.append((float(m.group(1)), int(m.group(2))))
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

        # --- the numbers --------------------------------------------------------------------
        a_msgs = sorted(m for sp in a_sipps
                        for m in sipp_messages(os.path.join(sp["dir"], "messages.log")))
        b_msgs = sorted(m for sp in b_sipps
                        for m in sipp_messages(os.path.join(sp["dir"], "messages.log")))
        # Call-IDs are unique across both legs and all groups (Ringback makes them).
        lat, a_invite_cb = [], {}
        ok_sent, a_bye = {}, {}
        for t, d, m in a_msgs:
            line = first_line(m)
            call_id = header(m, "Call-ID")
            if d == "received" and line.startswith("INVITE "):
                cb = header(m, "X-Ringback-Callback-Id")
                if call_id in a_invite_cb or cb not in due:
                    continue
                a_invite_cb[call_id] = cb
                lat.append(t - due[cb])
            elif d == "sent" and line.startswith("SIP/2.0 200") and "INVITE" in (
                header(m, "CSeq") or ""
            ):
                ok_sent.setdefault(call_id, t)
            elif d == "received" and line.startswith("BYE ") and call_id in a_invite_cb:
                a_bye.setdefault(a_invite_cb[call_id], t)
        answered_at = {a_invite_cb[c]: t for c, t in ok_sent.items() if c in a_invite_cb}
        # Bridging: A's answer (its 200 OK) to B's INVITE for the same callback; the bridged
        # interval: B's ACK to B's BYE; the hang-up order at the cap: A's BYE to B's BYE.
        bridge_lat, bye_skew, intervals, b_call_cb = [], [], {}, {}
        for t, d, m in b_msgs:
            line = first_line(m)
            call_id = header(m, "Call-ID")
            if d != "received":
                continue
            if line.startswith("INVITE "):
                if call_id in b_call_cb:
                    continue
                cb = header(m, "X-Ringback-Callback-Id")
                b_call_cb[call_id] = cb
                if cb in answered_at:
                    bridge_lat.append(t - answered_at[cb])
            elif line.startswith("ACK "):
                intervals.setdefault(call_id, [t, None])
            elif line.startswith("BYE ") and call_id in intervals:
                if intervals[call_id][1] is None:
                    intervals[call_id][1] = t
                    cb = b_call_cb.get(call_id)
                    if cb in a_bye:
                        bye_skew.append(t - a_bye[cb])
        events = []
        for start, end in intervals.values():
            events.append((start, 1))
            events.append((end if end is not None else float("inf"), -1))
        live = peak = 0
        for _, step in sorted(events):
            live += step
            peak = max(peak, live)
        w0, w1 = window[0] * 1000, window[1] * 1000
        bridged_whole_window = sum(
            1 for s, e in intervals.values() if s <= w0 and (e is None or e >= w1)
        )

        relayed_c = relayed_o = relay_dropped = relayed_calls = 0
        for line in open(server_log, errors="replace"):
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # the log's colours
            if "call media relayed" in line:
                relayed_calls += 1
                get = lambda k: int(re.search(k + r"=(\d+)", line).group(1))
                relayed_c += get("customer_packets")
                relayed_o += get("other_packets")
                relay_dropped += get("dropped")

        # sipp's dumps: the two of the window (SIGUSR2), then the one at exit.
        def window_counts(group, pattern):
            total = [0, 0]
            for sp in group:
                values = screen_dumps(screen_file(sp["dir"], sp["scenario"]), pattern)
                if len(values) < 2 or None in values[:2]:
                    raise RuntimeError(f"sipp {sp['name']}'s window dumps are missing: {values}")
                total[0] += values[0]
                total[1] += values[1]
            return total[1] - total[0]

        win_sent = window_counts(a_sipps, SENT_RE)
        win_echoed = window_counts(b_sipps, ECHO_RE)
        s0, s1 = snaps
        drops = {
            k: s1["snmp"].get(k, 0) - s0["snmp"].get(k, 0)
            for k in ("RcvbufErrors", "InErrors", "SndbufErrors", "InDatagrams", "OutDatagrams")
        }
        # Who dropped: each socket's drops in the window, by owner.
        lo, hi = (int(x) for x in args.rtp_ports.split("-"))
        owners = {sp["media"]: "sipp_a" for sp in a_sipps}
        owners.update({sp["media"]: "sipp_b" for sp in b_sipps})
        by_owner = {"sipp_a": 0, "sipp_b": 0, "ringback_rtp": 0, "other": 0}
        for port, after in s1["drops"].items():
            delta = after - s0["drops"].get(port, 0)
            if delta <= 0:
                continue
            owner = owners.get(port) or ("ringback_rtp" if lo <= port <= hi else "other")
            by_owner[owner] += delta

        def cores(key, lo, hi):
            pts = [s for s in samples if lo <= s["t"] <= hi and s[key] is not None]
            if len(pts) < 2:
                return None
            return (pts[-1][key] - pts[0][key]) / CLK_TCK / (pts[-1]["t"] - pts[0]["t"])

        def machine(lo, hi):
            pts = [s for s in samples if lo <= s["t"] <= hi]
            if len(pts) < 2:
                return None
            return (pts[-1]["busy"] - pts[0]["busy"]) / (pts[-1]["total"] - pts[0]["total"]) * (
                os.cpu_count()
            )

        def dist(values):
            return {"p50": percentile(values, 50), "p99": percentile(values, 99),
                    "max": max(values) if values else None}

        def bucket_quantile(q):
            """The upper bound of the histogram bucket holding quantile q (seconds)."""
            if not lateness_buckets or lateness_buckets[-1][1] == 0:
                return None
            total = lateness_buckets[-1][1]
            for bound, count in sorted(lateness_buckets):
                if count >= q * total:
                    return bound
            return None

        expected = n * 50 * (window[1] - window[0])
        all_drops = by_owner["ringback_rtp"] + by_owner["sipp_a"] + by_owner["sipp_b"]
        rss_window = [s["rss"] for s in samples if window[0] <= s["t"] <= window[1] and s["rss"]]
        result.update({
            "created": len(due),
            "invites": len(lat),
            "due_to_invite_ms": dict(dist(lat), min=min(lat) if lat else None),
            "answer_to_bot_invite_ms": dist(bridge_lat),
            "customer_bye_to_bot_bye_ms": dist(bye_skew),
            "server_dispatch_lateness_le_s": {
                "p50": bucket_quantile(0.5), "p99": bucket_quantile(0.99),
                "buckets": lateness_buckets,
            },
            "bridged_calls": len(intervals),
            "peak_concurrent_bridged": peak,
            "bridged_through_window": bridged_whole_window,
            "window_s": window[1] - window[0],
            "window": {
                "a_sent": win_sent, "b_echoed": win_echoed,
                "loss_a_to_b": (1 - win_echoed / win_sent) if win_sent else None,
                "kernel_udp": drops,
                # Each packet is received four times on its round trip (Ringback, B, Ringback,
                # A): 1.0 if every hop delivered (the counters are the network namespace's,
                # so other traffic on the machine counts too).
                "kernel_rx_per_4_sent": drops["InDatagrams"] / (4 * win_sent) if win_sent else None,
                "socket_drops": by_owner,
                # 50 packets a second for every call: how much of it A managed to send.
                "a_sent_of_expected": win_sent / expected,
                # On loopback a packet is lost only in a socket's receive buffer (counted
                # above, exactly) or by the relay itself (relay_dropped, 0 so far): each lost
                # packet is one drop somewhere on its round trip.
                "round_trip_loss": all_drops / win_sent if win_sent else None,
                # Ringback receives each packet twice (from A, from B).
                "ringback_loss": by_owner["ringback_rtp"] / (2 * win_sent) if win_sent else None,
            },
            # Ringback's relay counters over whole calls, teardown included (the relay stops
            # at the cap while echoes are still on their way back).
            "whole_calls": {
                "relayed_a_to_b": relayed_c, "relayed_b_to_a": relayed_o,
                "return_loss": (1 - relayed_o / relayed_c) if relayed_c else None,
                "relay_dropped": relay_dropped, "relay_logged_calls": relayed_calls,
            },
            "cpu_cores_window": {
                "server": cores("server", *window), "sipp_a": cores("a", *window),
                "sipp_b": cores("b", *window), "machine": machine(*window),
            },
            "server_rss_mb_window_max": max(rss_window) / 1024 if rss_window else None,
            "server_peak_rss_mb": hwm / 1024 if hwm else None,
            "outcomes": outcomes,
            "sipp_exit": {sp["name"]: sp["proc"].returncode for sp in sipps},
        })
        return result
    finally:
        for p in [server] + [sp["proc"] for sp in sipps]:
            if p.poll() is None:
                p.kill()
                p.wait()
        if db_dir != work:
            shutil.rmtree(db_dir, ignore_errors=True)


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def row(r):
    w = r["window"]
    c = r["cpu_cores_window"]
    lat = r["due_to_invite_ms"]
    d = w["socket_drops"]
    parts = [c["machine"], c["server"], c["sipp_a"], c["sipp_b"]]
    other = None if None in parts else parts[0] - sum(parts[1:])
    lateness = r["server_dispatch_lateness_le_s"]["p99"]
    pct = lambda v: "-" if v is None else f"{v * 100:.3f}%"
    return (
        f"| {r['n']:,} ({r['groups']}) | {r['peak_concurrent_bridged']:,} | "
        f"{fmt(lat['p50'])} / **{fmt(lat['p99'])}** / {fmt(lat['max'])} | "
        f"≤ {fmt(None if lateness is None else lateness * 1000, '.0f')} | "
        f"{fmt(r['answer_to_bot_invite_ms']['p50'])} / {fmt(r['answer_to_bot_invite_ms']['p99'])} | "
        f"{w['a_sent']:,} ({w['a_sent_of_expected'] * 100:.1f}%) / {w['b_echoed']:,} | "
        f"{d['ringback_rtp']:,} / {d['sipp_a']:,} / {d['sipp_b']:,} | **{pct(w['round_trip_loss'])}** | "
        f"{fmt(c['server'], '.2f')} / {fmt(c['sipp_a'], '.2f')} / {fmt(c['sipp_b'], '.2f')} / "
        f"{fmt(other, '.2f')} | {fmt(r['server_rss_mb_window_max'])} / "
        f"{fmt(r['server_peak_rss_mb'])} |"
    )


HEAD = (
    "| N (sipp pairs) | peak bridged | due→INVITE p50 / p99 / max ms | server dispatch lateness p99 ms "
    "| answer→bot INVITE p50 / p99 ms | window RTP: A sent (of 50/s per call) / B echoed "
    "| socket drops Ringback / A / B | round-trip loss | CPU cores server / sipp A / sipp B / other "
    "| server RSS MB window / peak |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def wait_for_quiet(threshold, limit):
    """Waits (up to `limit` s) until the machine's busy cores over 5 s fall below `threshold`;
    the last reading."""
    deadline = time.time() + limit
    while True:
        b0, t0 = machine_ticks()
        time.sleep(5)
        b1, t1 = machine_ticks()
        busy = (b1 - b0) / max(1, t1 - t0) * os.cpu_count()
        if busy < threshold or time.time() > deadline:
            return busy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--levels", default="50,100,200,500,1000")
    ap.add_argument("--duration", type=int, default=30, help="max_duration_seconds")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds the due times span")
    ap.add_argument("--lead", type=float, default=3.0, help="seconds from creation to first due")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after the ramp")
    ap.add_argument("--rtp-ports", default="20000-29999")
    ap.add_argument("--server-args", default="")
    ap.add_argument("--calls-per-sipp", type=int, default=250,
                    help="calls per sipp A/B pair (one account each); sipp's one media socket "
                    "per instance drops packets beyond a few hundred calls")
    ap.add_argument("--db-dir", default=None,
                    help="where the SQLite file goes (default: the trial's temporary directory)")
    ap.add_argument("--server-nice", type=int, default=0,
                    help="run the server at this nice value (negative: ahead of the sipps)")
    ap.add_argument("--recording", action="store_true", help="record the calls (off by default)")
    ap.add_argument("--profile", action="store_true",
                    help="perf record the server for 5 s of the window (perf.data, with --keep)")
    ap.add_argument("--out", default=None, help="directory for one JSON file per trial")
    ap.add_argument("--keep", action="store_true", help="keep each trial's directory")
    ap.add_argument("--quiet-below", type=float, default=0.3,
                    help="before each trial, wait until the machine's busy cores are below this")
    ap.add_argument("--quiet-wait", type=float, default=900, help="... for at most this long (s)")
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is required (Debian: apt-get install sip-tester)")
    rows = []
    for n in [int(x) for x in args.levels.split(",") if x]:
        busy = wait_for_quiet(args.quiet_below, args.quiet_wait)
        print(f"trial: {n} concurrent calls (busy cores before: {busy:.2f}) ...",
              file=sys.stderr, flush=True)
        r = trial(args, n)
        r["busy_cores_before"] = busy
        print(json.dumps(r, indent=1), file=sys.stderr, flush=True)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, f"sip-{n}.json"), "w") as f:
                json.dump(r, f, indent=1)
        if not args.keep:
            shutil.rmtree(r["work"], ignore_errors=True)
        rows.append(row(r))
    print(HEAD)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
