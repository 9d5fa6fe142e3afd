"""/etc/config/network and firewall texts the router of tests/openwrt/router.py starts with."""

LOOPBACK = """config interface 'loopback'
\toption device 'lo'
\toption proto 'static'
\toption ipaddr '127.0.0.1'
\toption netmask '255.0.0.0'
"""
LAN = """config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'
\toption ipaddr '192.168.1.1'
\toption netmask '255.255.255.0'
"""

# /etc/config/network and firewall as OpenWrt ships them (firewall4's rules shortened)
NETWORK = LOOPBACK + """
config device
\toption name 'br-lan'
\toption type 'bridge'
\tlist ports 'eth0'

""" + LAN + """
config interface 'wan'
\toption device 'eth1'
\toption proto 'dhcp'

config interface 'wan6'
\toption device 'eth1'
\toption proto 'dhcpv6'
"""
FIREWALL = """config defaults
\toption syn_flood\t1
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT

config zone
\toption name\t\tlan
\tlist   network\t\t'lan'
\toption input\t\tACCEPT
\toption output\t\tACCEPT
\toption forward\t\tACCEPT

config zone
\toption name\t\twan
\tlist   network\t\t'wan'
\tlist   network\t\t'wan6'
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
\toption masq\t\t1
\toption mtu_fix\t\t1

config forwarding
\toption src\t\tlan
\toption dest\t\twan

config rule
\toption name\t\tAllow-DHCP-Renew
\toption src\t\twan
\toption proto\t\tudp
\toption dest_port\t68
\toption target\t\tACCEPT
\toption family\t\tipv4

config rule
\toption name\t\tAllow-Ping
\toption src\t\twan
\toption proto\t\ticmp
\toption icmp_type\techo-request
\toption family\t\tipv4
\toption target\t\tACCEPT
"""

# zones that name their devices (fw4 finds them without netifd) and a static WAN, for the
# tests that send traffic; {wan_extra}: more lines for the wan zone
ZONES_NETWORK = LOOPBACK + "\n" + LAN + """
config interface 'wan'
\toption device 'eth1'
\toption proto 'static'
\toption ipaddr '192.0.2.1'
\toption netmask '255.255.255.0'
"""

ZONES_FIREWALL = """config defaults
\toption input 'ACCEPT'
\toption output 'ACCEPT'
\toption forward 'REJECT'

config zone
\toption name 'lan'
\tlist network 'lan'
\tlist device 'br-lan'
\toption input 'ACCEPT'
\toption output 'ACCEPT'
\toption forward 'ACCEPT'

config zone
\toption name 'wan'
\tlist network 'wan'
\tlist device 'eth1'
{wan_extra}\toption input 'REJECT'
\toption output 'ACCEPT'
\toption forward 'REJECT'
\toption masq '1'

config forwarding
\toption src 'lan'
\toption dest 'wan'
"""
