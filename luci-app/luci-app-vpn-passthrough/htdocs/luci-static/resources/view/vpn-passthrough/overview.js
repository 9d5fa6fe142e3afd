'use strict';
'require view';
'require form';
'require rpc';
'require poll';
'require ui';

/*
 * VPN Passthrough: switches and per-client policy (UCI, saved through LuCI's
 * standard Save & Apply, which the service picks up through its procd reload
 * trigger) plus a live panel fed by the service's ubus object.
 *
 * LuCI calls go to `luci.vpn-passthrough`: its methods declare the
 * ubus_rpc_session argument that rpcd adds to every call from the web UI
 * (docs/DESIGN.md). Every method called here is listed in
 * root/usr/share/rpcd/acl.d/luci-app-vpn-passthrough.json, and nothing else.
 */

var callStatus = rpc.declare({
	object: 'luci.vpn-passthrough',
	method: 'status'
});

var callSessions = rpc.declare({
	object: 'luci.vpn-passthrough',
	method: 'sessions',
	expect: { sessions: [] }
});

var callCheck = rpc.declare({
	object: 'luci.vpn-passthrough',
	method: 'check',
	expect: { findings: [] }
});

var callReload = rpc.declare({
	object: 'luci.vpn-passthrough',
	method: 'reload'
});

var callSet = rpc.declare({
	object: 'luci.vpn-passthrough',
	method: 'set',
	params: [ 'values' ]
});

var callHostHints = rpc.declare({
	object: 'luci-rpc',
	method: 'getHostHints',
	expect: { '': {} }
});

var PROTOCOLS = [ 'pptp', 'l2tp', 'ipsec' ];

var PROTOCOL_NAMES = { pptp: 'PPTP', l2tp: 'L2TP', ipsec: 'IPsec' };

function protocolName(proto) {
	return PROTOCOL_NAMES[proto] || String(proto);
}

function effectiveLabel(effective) {
	switch (effective) {
	case 'on': return _('Passing');
	case 'off': return _('Blocked');
	case 'degraded': return _('Passing without helper');
	case 'disabled': return _('Not controlled');
	default: return _('Unknown');
	}
}

function effectiveClass(effective) {
	switch (effective) {
	case 'on': return 'vpnpt-badge vpnpt-on';
	case 'off': return 'vpnpt-badge vpnpt-off';
	case 'degraded': return 'vpnpt-badge vpnpt-warn';
	default: return 'vpnpt-badge';
	}
}

function helperLabel(helper) {
	switch (helper) {
	case 'assigned': return _('Assigned');
	case 'none': return _('Not used');
	case 'missing': return _('Missing from the kernel');
	default: return _('Unknown');
	}
}

function moduleStateLabel(state) {
	switch (state) {
	case 'loaded': return _('loaded');
	case 'builtin': return _('built in');
	case 'missing': return _('missing');
	default: return String(state);
	}
}

function severityLabel(severity) {
	switch (severity) {
	case 'error': return _('Error');
	case 'warning': return _('Warning');
	default: return _('Note');
	}
}

function formatCounter(counter) {
	if (!counter || counter.packets == null)
		return '-';

	return _('%d packets (%s)').format(counter.packets, formatBytes(counter.bytes));
}

function formatBytes(bytes) {
	var units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB' ], n = +bytes || 0, i = 0;

	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}

	return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

function formatDuration(seconds) {
	if (seconds == null)
		return '-';

	var s = Math.max(0, Math.floor(+seconds)),
	    h = Math.floor(s / 3600),
	    m = Math.floor((s % 3600) / 60);

	if (h > 0)
		return _('%dh %dm').format(h, m);
	if (m > 0)
		return _('%dm %ds').format(m, s % 60);

	return _('%ds').format(s);
}

function endpoint(addr, port) {
	if (port == null)
		return addr;

	return (String(addr).indexOf(':') >= 0 ? '[' + addr + ']' : addr) + ':' + port;
}

function table(className, headers, rows, emptyText) {
	var head = E('tr', { 'class': 'tr table-titles' }, headers.map(function(h) {
		return E('th', { 'class': 'th' }, [ h ]);
	}));

	var body = rows.length ? rows.map(function(cells) {
		return E('tr', { 'class': 'tr' }, cells.map(function(c, i) {
			return E('td', { 'class': 'td', 'data-title': headers[i] }, [ c ]);
		}));
	}) : [ E('tr', { 'class': 'tr placeholder' }, [
		E('td', { 'class': 'td', 'colspan': headers.length }, [ E('em', {}, [ emptyText ]) ])
	]) ];

	return E('table', { 'class': 'table ' + className }, [ head ].concat(body));
}

return view.extend({
	load: function() {
		return Promise.all([
			callStatus().catch(function(err) { return { __error: String(err && err.message || err) }; }),
			callSessions().catch(function() { return []; }),
			callCheck().catch(function() { return []; }),
			callHostHints().catch(function() { return {}; })
		]);
	},

	/* Status and sessions every poll (5 s); the checks, which look at more of
	 * the system, every sixth poll and after "Apply rules again". */
	refresh: function(withChecks) {
		this.polls = (this.polls || 0) + 1;

		return Promise.all([
			callStatus().catch(function(err) { return { __error: String(err && err.message || err) }; }),
			callSessions().catch(function() { return []; }),
			(withChecks === true || this.polls % 6 == 0)
				? callCheck().catch(function() { return []; }) : this.findings
		]).then(L.bind(function(data) {
			this.updateLive(data[0], data[1], data[2]);
		}, this));
	},

	handleReload: function(ev) {
		var btn = ev.currentTarget;

		btn.disabled = true;

		return callReload().then(L.bind(function(reply) {
			if (!reply || !reply.ok) {
				ui.addNotification(null, E('p', {}, [
					_('The rules could not be applied: %s').format(reply && reply.error || _('unknown error')),
					(reply && reply.field) ? ' (' + reply.field + ')' : ''
				]), 'error');
			}

			return this.refresh(true);
		}, this)).catch(function(err) {
			ui.addNotification(null, E('p', {}, [ _('The service does not answer: %s').format(err && err.message || err) ]), 'error');
		}).then(function() {
			btn.disabled = false;
		});
	},

	handleQuickSwitch: function(proto, on, ev) {
		var values = {};

		values[proto] = on;

		ui.showModal(on ? _('Turn on %s passthrough now?').format(protocolName(proto))
		                : _('Turn off %s passthrough now?').format(protocolName(proto)), [
			E('p', {}, [ _('This changes the setting and applies it at once, without Save & Apply. Unsaved changes on this page are discarded.') ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]),
				' ',
				E('button', {
					'class': 'btn cbi-button-action important',
					'click': L.bind(function() {
						ui.hideModal();

						return callSet(values).then(function(reply) {
							if (!reply || !reply.ok) {
								ui.addNotification(null, E('p', {}, [
									_('The rules could not be applied: %s').format(reply && reply.error || _('unknown error'))
								]), 'error');
								return;
							}

							window.location.reload();
						}).catch(function(err) {
							ui.addNotification(null, E('p', {}, [ _('The service does not answer: %s').format(err && err.message || err) ]), 'error');
						});
					}, this)
				}, [ on ? _('Turn on now') : _('Turn off now') ])
			])
		]);
	},

	renderProtocols: function(status) {
		var protocols = status.protocols || {};

		return table('vpnpt-protocols', [
			_('Protocol'), _('Setting'), _('Now'), _('Helper'), _('Kernel modules'), _('Blocked traffic'), _('Passed traffic'), ''
		], PROTOCOLS.map(L.bind(function(proto) {
			var p = protocols[proto] || {},
			    modules = Object.keys(p.modules || {}).sort().map(function(name) {
				return name + ': ' + moduleStateLabel(p.modules[name]);
			    }),
			    on = !!p.configured;

			return [
				E('strong', {}, [ protocolName(proto) ]),
				on ? _('On') : _('Off'),
				E('span', {}, [
					E('span', { 'class': effectiveClass(p.effective), 'data-protocol': proto }, [
						effectiveLabel(p.effective)
					]),
					p.error ? E('div', { 'class': 'vpnpt-error' }, [ String(p.error) ]) : ''
				]),
				helperLabel(p.helper),
				modules.length ? modules.join(', ') : '-',
				formatCounter(p.blocked),
				formatCounter(p.passed),
				E('button', {
					'class': 'btn cbi-button cbi-button-' + (on ? 'negative' : 'positive'),
					'click': L.bind(this.handleQuickSwitch, this, proto, !on)
				}, [ on ? _('Turn off now') : _('Turn on now') ])
			];
		}, this)), _('No protocol information.'));
	},

	renderFindings: function(status, findings) {
		var items = [];

		(status.errors || []).forEach(function(msg) {
			items.push(E('li', { 'class': 'vpnpt-finding vpnpt-error' }, [
				E('strong', {}, [ severityLabel('error') ]), ': ', String(msg && msg.message || msg)
			]));
		});

		(findings || []).forEach(function(f) {
			items.push(E('li', { 'class': 'vpnpt-finding vpnpt-' + (f.severity || 'info'), 'data-finding': f.id || '' }, [
				E('strong', {}, [ severityLabel(f.severity) ]), ': ', String(f.message || f.id || ''),
				f.fix ? E('div', { 'class': 'vpnpt-fix' }, [ _('Fix:'), ' ', E('code', {}, [ String(f.fix) ]) ]) : ''
			]));
		});

		if (!items.length)
			return E('p', { 'class': 'vpnpt-findings-ok' }, [ _('No problems found.') ]);

		return E('ul', { 'class': 'vpnpt-findings' }, items);
	},

	renderClients: function(status) {
		return table('vpnpt-clients', [
			_('Name'), _('Action'), _('Protocols'), _('Matched traffic')
		], (status.clients || []).map(function(c) {
			return [
				c.name || '-',
				(c.action == 'allow') ? _('Allow') : _('Block'),
				(c.protocols && c.protocols.length) ? c.protocols.map(protocolName).join(', ') : _('All'),
				formatCounter(c.matched)
			];
		}), _('No per-client rules.'));
	},

	renderSessions: function(sessions) {
		return table('vpnpt-sessions', [
			_('Protocol'), _('Device on LAN'), _('VPN server'), _('State'), _('Age'), _('Traffic'), _('Helper')
		], (sessions || []).map(function(s) {
			return [
				protocolName(s.protocol),
				endpoint(s.client, s.sport),
				endpoint(s.server, s.dport) + (s.l4 ? ' (' + String(s.l4).toUpperCase() + ')' : ''),
				s.state || '-',
				formatDuration(s.age),
				(s.packets == null) ? '-' : _('%d packets (%s)').format(s.packets, formatBytes(s.bytes)),
				s.helper || '-'
			];
		}), _('No VPN sessions pass through the router right now.'));
	},

	updateLive: function(status, sessions, findings) {
		var node = this.liveNode, summary;

		this.findings = findings;

		if (!node)
			return;

		if (!status || status.__error) {
			L.dom.content(node, [
				E('div', { 'class': 'alert-message warning' }, [
					_('The vpn-passthrough service does not answer: %s').format(status && status.__error || _('no reply'))
				])
			]);
			return;
		}

		if (!status.enabled)
			summary = _('VPN passthrough control is turned off: this service adds no rules.');
		else if (!status.applied)
			summary = _('The settings are not applied yet.');
		else
			summary = _('Rules are active on LAN %s and WAN %s.').format(
				(status.lan_devices || []).join(', ') || '-',
				(status.wan_devices || []).join(', ') || '-');

		L.dom.content(node, [
			E('p', { 'class': 'vpnpt-summary' }, [
				summary, ' ',
				E('button', {
					'class': 'btn cbi-button cbi-button-apply',
					'click': L.bind(this.handleReload, this)
				}, [ _('Apply rules again') ])
			]),
			E('h4', {}, [ _('Protocols') ]),
			this.renderProtocols(status),
			E('h4', {}, [ _('Checks') ]),
			this.renderFindings(status, findings),
			E('h4', {}, [ _('Per-client rules') ]),
			this.renderClients(status),
			E('h4', {}, [ _('Active VPN sessions') ]),
			this.renderSessions(sessions)
		]);
	},

	render: function(data) {
		var status = data[0], sessions = data[1], findings = data[2], hosts = data[3] || {},
		    m, s, o;

		m = new form.Map('vpn-passthrough');

		s = m.section(form.NamedSection, 'globals', 'globals', _('Settings'));
		s.addremove = false;
		s.tab('general', _('General'));
		s.tab('advanced', _('Advanced'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enable'),
			_('Lets this service control VPN passthrough. When off it adds no rules and VPN traffic is handled by the firewall alone.'));
		o.default = '1';
		o.rmempty = false;

		/* The protocol switches live in their own UCI sections
		 * (config protocol 'pptp' …); ucisection maps them here. */
		o = s.taboption('general', form.Flag, 'pptp_enabled', _('PPTP passthrough'),
			_('Passes PPTP (TCP port 1723 and GRE) and sets up the PPTP helper so several devices can use the same server. PPTP security is weak: turn this off unless you still need an old PPTP VPN. IPv4 only.'));
		o.ucisection = 'pptp';
		o.ucioption = 'enabled';
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.Flag, 'l2tp_enabled', _('L2TP passthrough'),
			_('Passes L2TP (UDP port 1701), usually run inside IPsec. Turn this off to stop devices from using L2TP VPNs.'));
		o.ucisection = 'l2tp';
		o.ucioption = 'enabled';
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.Flag, 'ipsec_enabled', _('IPsec passthrough'),
			_('Passes IPsec (IKE on UDP ports 500 and 4500, ESP and AH), used by most company and phone VPNs. Turn this off only to stop devices from using IPsec VPNs.'));
		o.ucisection = 'ipsec';
		o.ucioption = 'enabled';
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.Flag, 'log', _('Log blocked attempts'),
			_('Writes a line to the system log for each blocked VPN connection attempt.'));
		o.default = '0';
		o.rmempty = false;

		o = s.taboption('advanced', form.Flag, 'ipv6', _('Apply to IPv6'),
			_('Also applies the switches and client rules to IPv6 traffic. PPTP passthrough works with IPv4 only.'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('advanced', form.DynamicList, 'lan_zone', _('LAN zones'),
			_('Firewall zones whose devices are the VPN clients.'));
		o.datatype = 'uciname';
		o.placeholder = 'lan';

		o = s.taboption('advanced', form.DynamicList, 'wan_zone', _('WAN zones'),
			_('Firewall zones that lead to the internet.'));
		o.datatype = 'uciname';
		o.placeholder = 'wan';

		o = s.taboption('advanced', form.DynamicList, 'lan_device', _('LAN devices'),
			_('Network devices to use instead of the LAN zones, for example br-lan. Leave empty to use the zones.'));

		o = s.taboption('advanced', form.DynamicList, 'wan_device', _('WAN devices'),
			_('Network devices to use instead of the WAN zones, for example eth1 or pppoe-wan. Leave empty to use the zones.'));

		s = m.section(form.TableSection, 'client', _('Per-client policy'),
			_('Rules for single devices, matched by MAC address or by IP address or prefix. Block stops the chosen protocols for the device even when they are on above; Allow lets them through even when they are off.'));
		s.anonymous = true;
		s.addremove = true;
		s.sortable = true;
		s.nodescriptions = true;

		o = s.option(form.Value, 'name', _('Name'));
		o.placeholder = _('e.g. Kids tablet');

		o = s.option(form.DynamicList, 'mac', _('MAC addresses'));
		o.datatype = 'macaddr';
		Object.keys(hosts).sort().forEach(function(mac) {
			var h = hosts[mac] || {}, label = h.name || (h.ipaddrs || [])[0];
			o.value(mac, label ? '%s (%s)'.format(mac, label) : mac);
		});

		o = s.option(form.DynamicList, 'ip', _('IP addresses'));
		o.datatype = 'ipaddr';
		Object.keys(hosts).sort().forEach(function(mac) {
			var h = hosts[mac] || {};
			(h.ipaddrs || []).concat(h.ip6addrs || []).forEach(function(addr) {
				o.value(addr, h.name ? '%s (%s)'.format(addr, h.name) : addr);
			});
		});

		o = s.option(form.ListValue, 'action', _('Action'));
		o.value('block', _('Block'));
		o.value('allow', _('Allow'));
		o.default = 'block';
		o.rmempty = false;

		o = s.option(form.MultiValue, 'protocol', _('Protocols'));
		PROTOCOLS.forEach(function(proto) { o.value(proto, protocolName(proto)); });
		o.placeholder = _('All');

		this.liveNode = E('div', { 'class': 'vpnpt-live', 'id': 'vpnpt-live' });
		this.updateLive(status, sessions, findings);

		poll.add(L.bind(function() { return this.refresh(false); }, this), 5);

		return m.render().then(L.bind(function(mapEl) {
			return E('div', { 'class': 'vpnpt' }, [
				E('style', {}, [
					'.vpnpt-badge{display:inline-block;padding:0 .5em;border-radius:3px;background:#ddd;white-space:nowrap}' +
					'.vpnpt-protocols button{white-space:nowrap}' +
					'.vpnpt-on{background:#cfe8cf}.vpnpt-off{background:#f3cccc}.vpnpt-warn{background:#f6e3b4}' +
					'.vpnpt-findings{margin-left:1.5em}.vpnpt-fix{margin-top:.2em}.vpnpt-error{color:#a33;font-size:90%}'
				]),
				E('h2', {}, [ _('VPN Passthrough') ]),
				E('div', { 'class': 'cbi-map-descr' }, [
					_('Lets VPN clients on your network reach VPN servers on the internet through this router, per protocol and per device. The live panel shows what passes now.')
				]),
				E('div', { 'class': 'cbi-section' }, [
					E('h3', {}, [ _('Live status') ]),
					this.liveNode
				]),
				mapEl
			]);
		}, this));
	}
});
