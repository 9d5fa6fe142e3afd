"""Settings files for the benchmark: explicit lab devices, N clients, PPTP on and off.

The two files of a size differ only in the PPTP switch: what a user changes. Clients never
match the lab's hosts (10.77.1.0/24): they are blocked, one address and one MAC each, for
all three protocols (so 10,000 clients = 6 sets x 10,000 elements).
"""

import os

HEAD = ("config globals 'globals'\n\tlist lan_device 'br-lan'\n\tlist wan_device 'wan0'\n\n"
        "config protocol 'pptp'\n\toption enabled '{pptp}'\n\n")


def client(i):
    return ("config client\n\toption name 'client %d'\n\tlist ip '172.%d.%d.%d'\n"
            "\tlist mac '02:00:00:%02x:%02x:%02x'\n\toption action 'block'\n\n"
            % (i, 16 + (i >> 16), (i >> 8) & 255, i & 255, (i >> 16) & 255, (i >> 8) & 255,
               i & 255))


def write(directory, clients):
    """[path with PPTP on, path with PPTP off] for `clients` clients."""
    paths = []
    for pptp in (1, 0):
        path = os.path.join(directory, "c%d-pptp%d" % (clients, pptp), "vpn-passthrough")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(HEAD.format(pptp=pptp) + "".join(client(i) for i in range(1, clients + 1)))
        paths.append(path)
    return paths
