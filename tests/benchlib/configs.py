"""Settings files for the benchmark: explicit lab devices, N clients, two variants.

Two variants (log 0 / log 1) of every size: consecutive applies alternate between them, so
each apply is a real change (the product skips an apply whose digest equals the live table's).
The "pptp" variants flip a switch instead, so every apply also cuts flows.
Clients never match the lab's hosts (10.77.1.0/24): they are blocked, one address and one
MAC each, for all three protocols (so 10,000 clients = 6 sets x 10,000 elements).
"""

import os

HEAD = ("config globals 'globals'\n\toption enabled '1'\n\toption log '{log}'\n"
        "\toption ipv6 '1'\n\tlist lan_device 'br-lan'\n\tlist wan_device 'wan0'\n\n"
        "config protocol 'pptp'\n\toption enabled '{pptp}'\n\n"
        "config protocol 'l2tp'\n\toption enabled '1'\n\n"
        "config protocol 'ipsec'\n\toption enabled '1'\n\n")


def client(i):
    return ("config client\n\toption name 'client %d'\n\tlist ip '172.%d.%d.%d'\n"
            "\tlist mac '02:00:00:%02x:%02x:%02x'\n\toption action 'block'\n\n"
            % (i, 16 + (i >> 16), (i >> 8) & 255, i & 255, (i >> 16) & 255, (i >> 8) & 255,
               i & 255))


def text(clients, log, pptp=1):
    return HEAD.format(log=log, pptp=pptp) + "".join(client(i) for i in range(1, clients + 1))


def write(directory, clients, vary="log"):
    """[path A, path B] for `clients` clients: log 0 / log 1, or with vary="pptp" the
    PPTP switch on / off (a change of the blocking policy: apply then cuts flows)."""
    paths = []
    for i in (0, 1):
        path = os.path.join(directory, "c%d-%s%d" % (clients, vary, i), "vpn-passthrough")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text(clients, i, 1) if vary == "log" else text(clients, 0, 1 - i))
        paths.append(path)
    return paths
