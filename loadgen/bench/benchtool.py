#!/usr/bin/env python3
"""Helpers for compare.sh: the markdown table of results, and waiting for servers to link.

  benchtool.py table RESULTS.jsonl [--title TEXT] [--note TEXT]...
      Reads one record per line ({"server", "scenario", "repeat", "report"} or {..., "error"}) and
      prints a markdown report: per scenario, the median of each figure over the repeats with its
      min-max, and the ratio latticed/peer. Every loss, disconnect, error numeric, setup failure,
      timeout or failed run is listed under "Problems" so none is hidden by a median.

  benchtool.py wait-linked HOST:PORT SERVERS TIMEOUT_SECS
      Registers on the server and repeats LUSERS until it reports SERVERS servers (exit 0), or
      fails after the timeout (exit 1). Loopback addresses only.
"""

import ipaddress
import json
import socket
import statistics
import sys
import time

# Figures per scenario: (label, how to read it from a report, whether higher is better; None for
# context that is not the server's doing, which gets no ratio).
METRICS = {
    "fanout": [
        ("deliveries/s", lambda r: r.get("deliveries_per_sec"), True),
        ("latency p50 (ms)", lambda r: _get(r, "latency_ms", "p50_ms"), False),
        ("latency p99 (ms)", lambda r: _get(r, "latency_ms", "p99_ms"), False),
        ("latency max (ms)", lambda r: _get(r, "latency_ms", "max_ms"), False),
        ("server CPU (% of a core)", lambda r: _get(r, "server_cpu", "percent_of_one_core"), False),
        ("machine CPU, all processes (% of a core)", lambda r: r.get("machine_cpu_percent"), False),
        ("setup + barrier (s)", lambda r: r.get("setup_secs"), False),
        ("lost deliveries", lambda r: r.get("lost_deliveries"), False),
        ("host steal (% of all CPU)", lambda r: r.get("host_steal_percent"), None),
    ],
    "channels": [
        ("deliveries/s", lambda r: r.get("deliveries_per_sec"), True),
        ("latency p50 (ms)", lambda r: _get(r, "latency_ms", "p50_ms"), False),
        ("latency p99 (ms)", lambda r: _get(r, "latency_ms", "p99_ms"), False),
        ("latency max (ms)", lambda r: _get(r, "latency_ms", "max_ms"), False),
        ("server CPU (% of a core)", lambda r: _get(r, "server_cpu", "percent_of_one_core"), False),
        ("machine CPU, all processes (% of a core)", lambda r: r.get("machine_cpu_percent"), False),
        ("setup + barrier (s)", lambda r: r.get("setup_secs"), False),
        ("lost deliveries", lambda r: r.get("lost_deliveries"), False),
        ("host steal (% of all CPU)", lambda r: r.get("host_steal_percent"), None),
    ],
    "connect": [
        ("registrations/s", lambda r: r.get("registrations_per_sec"), True),
        ("registration p50 (ms)", lambda r: _get(r, "registration_latency_ms", "p50_ms"), False),
        ("registration p99 (ms)", lambda r: _get(r, "registration_latency_ms", "p99_ms"), False),
        ("RSS per connection (bytes)", lambda r: r.get("rss_per_connection_bytes"), False),
        ("RSS per added connection, N/2 to N (bytes)",
         lambda r: r.get("rss_per_added_connection_bytes"), False),
        ("registered", lambda r: r.get("registered"), True),
        ("host steal (% of all CPU)", lambda r: r.get("host_steal_percent"), None),
    ],
    "cross": [
        ("deliveries/s", lambda r: r.get("deliveries_per_sec"), True),
        ("receiver latency p50 (ms)", lambda r: _receivers(r, "p50_ms"), False),
        ("receiver latency p99 (ms)", lambda r: _receivers(r, "p99_ms"), False),
        ("sender-server latency p50 (ms)", lambda r: _sender_node(r, "p50_ms"), False),
        ("setup + barrier (s)", lambda r: r.get("setup_secs"), False),
        ("lost deliveries", lambda r: r.get("lost_deliveries"), False),
        ("host steal (% of all CPU)", lambda r: r.get("host_steal_percent"), None),
    ],
}


def _get(report, *keys):
    value = report
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _receivers(report, key):
    """Worst value of `key` over the servers without senders."""
    values = [
        _get(node, "latency_ms", key)
        for node in report.get("per_node", [])
        if node.get("senders") == 0
    ]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _sender_node(report, key):
    for node in report.get("per_node", []):
        if node.get("senders", 0) > 0:
            return _get(node, "latency_ms", key)
    return None


def _fmt(value):
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cell(values):
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1:
        return _fmt(median)
    return f"{_fmt(median)} ({_fmt(min(values))}–{_fmt(max(values))})"


def _problems(record):
    """Human-readable problems of one run."""
    if "error" in record:
        return [f"run failed: {record['error']}"]
    report = record["report"]
    found = []
    if report.get("timed_out"):
        found.append(f"timed out (phase reached: {report.get('phase_reached', '?')})")
    for key in ("lost_deliveries", "duplicate_deliveries", "unexpected_deliveries", "aborted_clients"):
        if report.get(key):
            found.append(f"{key.replace('_', ' ')}: {report[key]}")
    for key in ("setup_failures", "failures", "disconnects", "error_numerics"):
        if report.get(key):
            found.append(f"{key.replace('_', ' ')}: {json.dumps(report[key], sort_keys=True)}")
    for key in ("server_cpu_error", "server_rss_error"):
        if report.get(key):
            found.append(f"{key.replace('_', ' ')}: {report[key]}")
    return found


def table(path, title, notes):
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                records.append({"server": "?", "scenario": "?", "repeat": number, "error": f"bad record: {err}"})

    servers = []
    for record in records:
        if record.get("server") not in servers:
            servers.append(record.get("server"))
    peers = [s for s in servers if s != "latticed"]
    out = [f"# {title}", ""]
    out += [f"- {note}" for note in notes]
    out += ["", "Cells: median over the repeats (min–max). Ratio: latticed median / peer median.", ""]

    for scenario, metrics in METRICS.items():
        runs = [r for r in records if r.get("scenario") == scenario]
        if not runs:
            continue
        present = [s for s in servers if any(r.get("server") == s for r in runs)]
        out.append(f"## {scenario}")
        out.append("")
        params = next((r["report"].get("params") for r in runs if "report" in r), None)
        if params:
            shown = {k: v for k, v in params.items() if k not in ("label", "server_pid", "addr", "sender_addr", "receiver_addrs")}
            out += [f"Parameters: `{json.dumps(shown, sort_keys=True)}`", ""]
        ratio_peers = [p for p in peers if p in present] if "latticed" in present else []
        header = ["figure"] + present + [f"latticed/{p}" for p in ratio_peers]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for label, read, higher_better in metrics:
            medians = {}
            arrow = {True: " ↑", False: " ↓", None: ""}[higher_better]
            row = [label + arrow]
            for server in present:
                values = [
                    read(r["report"])
                    for r in runs
                    if r.get("server") == server and "report" in r
                ]
                values = [float(v) for v in values if v is not None]
                medians[server] = statistics.median(values) if values else None
                row.append(_cell(values))
            for peer in ratio_peers:
                ours, theirs = medians.get("latticed"), medians.get(peer)
                ratio = higher_better is not None and ours is not None and theirs
                row.append(f"{ours / theirs:.2f}" if ratio else "—")
            out.append("| " + " | ".join(row) + " |")
        out.append("")

    out += ["## Problems", ""]
    listed = False
    for record in records:
        for problem in _problems(record):
            listed = True
            out.append(f"- {record.get('scenario')} / {record.get('server')} / run {record.get('repeat')}: {problem}")
    if not listed:
        out.append("None: no loss, duplicates, disconnects, error numerics, setup failures or timeouts.")
    out.append("")
    print("\n".join(out))


def _loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wait_linked(target, servers, timeout):
    host, _, port = target.rpartition(":")
    if not _loopback(host):
        print(f"wait-linked: {host} is not a loopback address", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout
    # Short enough for ngIRCd's default 9-character nicks.
    nick = f"lgw{int(time.monotonic() * 1000) % 100000}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(1.0)
            sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :link check\r\n".encode())
            buffer = b""
            registered = False
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(4096)
                except socket.timeout:
                    if registered:
                        sock.sendall(b"LUSERS\r\n")
                    continue
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    words = raw.decode("utf-8", "replace").strip().split(" ")
                    if len(words) > 1 and words[0] == "PING":
                        sock.sendall(f"PONG {words[1]}\r\n".encode())
                    if len(words) > 1 and words[1] in ("376", "422"):
                        registered = True
                        sock.sendall(b"LUSERS\r\n")
                    if len(words) > 1 and words[1] == "251":
                        text = " ".join(words)
                        marker = text.rsplit(" on ", 1)
                        count = marker[1].split(" ")[0] if len(marker) == 2 else ""
                        if count.isdigit() and int(count) >= servers:
                            sock.sendall(b"QUIT :linked\r\n")
                            return 0
    except OSError as err:
        print(f"wait-linked: {target}: {err}", file=sys.stderr)
        return 1
    print(f"wait-linked: {target} did not report {servers} linked servers within {timeout} s", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "table":
        title, notes, rest = "latticed vs peers", [], argv[3:]
        while rest:
            flag, value, rest = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
            if flag == "--title":
                title = value
            elif flag == "--note":
                notes.append(value)
            else:
                print(f"unknown option {flag}", file=sys.stderr)
                return 2
        if len(argv) < 3:
            print(__doc__, file=sys.stderr)
            return 2
        table(argv[2], title, notes)
        return 0
    if len(argv) == 5 and argv[1] == "wait-linked":
        return wait_linked(argv[2], int(argv[3]), float(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
