'use strict';
'require baseclass';
'require dom';
'require poll';
'require rpc';
'require ui';
'require vpn-passthrough.messages as msg';
'require vpn-passthrough.table as vptable';

/*
 * The live panel of Network → VPN Passthrough: what the service reports over
 * `luci.vpn-passthrough` (docs/api: summary `status`, paged `clients`, bounded
 * `sessions`, `check`). Each poll asks for the summary and the one page of
 * client counters on screen, never the whole client list, and updates only the
 * cells whose text changed, so a router with a thousand clients stays usable.
 */

var PAGE = 25;

var callStatus = rpc.declare({ object: 'luci.vpn-passthrough', method: 'status' });
var callClients = rpc.declare({ object: 'luci.vpn-passthrough', method: 'clients', params: [ 'offset', 'limit' ] });
var callSessions = rpc.declare({ object: 'luci.vpn-passthrough', method: 'sessions' });
var callCheck = rpc.declare({ object: 'luci.vpn-passthrough', method: 'check', expect: { findings: [] } });
var callReload = rpc.declare({ object: 'luci.vpn-passthrough', method: 'reload' });
var callSet = rpc.declare({ object: 'luci.vpn-passthrough', method: 'set', params: [ 'values' ] });
var callResetCounters = rpc.declare({ object: 'luci.vpn-passthrough', method: 'reset_counters' });

function formatCounter(c) {
	if (!c || c.packets == null)
		return '-';

	return _('%d packets (%s)').format(c.packets, '%1024.1mB'.format(+c.bytes || 0));
}

function formatAge(seconds) {
	if (seconds == null)
		return '-';

	return '%t'.format(Math.max(0, Math.floor(+seconds)));
}

function endpoint(addr, port) {
	if (port == null)
		return String(addr || '-');

	return (String(addr).indexOf(':') >= 0 ? '[' + addr + ']' : addr) + ':' + port;
}

function notifyFailure(reply) {
	ui.addNotification(null, E('p', [
		_('The rules could not be applied: %s').format((reply && reply.error) || _('the service did not answer')),
		(reply && reply.field) ? ' (' + reply.field + ')' : ''
	]), 'error');
}

return baseclass.extend({
	__init__: function() {
		this.offset = 0;
		this.polls = 0;
		this.sessions = [];
		this.onChange = null;      /* the view re-reads the form after a quick switch */
		this.onSessions = null;    /* the diagnose picker follows the live sessions */
	},

	/* The first data, for the view's load(): a missing method gives {}. */
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(callClients(0, PAGE), {}),
			L.resolveDefault(callSessions(), {}),
			L.resolveDefault(callCheck(), [])
		]);
	},

	handleReload: function(ev) {
		return callReload().then(L.bind(function(reply) {
			if (!reply || !reply.ok)
				notifyFailure(reply);

			return this.refresh(true);
		}, this)).catch(notifyFailure);
	},

	handleResetCounters: function(ev) {
		return callResetCounters().then(L.bind(function() {
			return this.refresh(false);
		}, this)).catch(notifyFailure);
	},

	handleQuickSwitch: function(proto, on, ev) {
		var values = {};

		values[proto] = on;

		ui.showModal(on ? _('Turn on %s passthrough now?').format(msg.protocolName(proto))
		                : _('Turn off %s passthrough now?').format(msg.protocolName(proto)), [
			E('p', [ _('This changes the setting and applies it at once, without Save & Apply. Unsaved changes on this page are discarded.') ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', {
					'class': 'btn cbi-button-action important',
					'click': ui.createHandlerFn(this, function() {
						return callSet(values).then(L.bind(function(reply) {
							ui.hideModal();
							if (!reply || !reply.ok)
								return notifyFailure(reply);

							return Promise.all([ this.refresh(false), this.onChange && this.onChange() ]);
						}, this)).catch(function(err) { ui.hideModal(); notifyFailure({ error: String(err) }); });
					})
				}, [ on ? _('Turn on now') : _('Turn off now') ])
			])
		]);
	},

	handlePage: function(delta, ev) {
		this.offset = Math.max(0, this.offset + delta * PAGE);

		return L.resolveDefault(callClients(this.offset, PAGE), {}).then(L.bind(this.updateClients, this));
	},

	/* Every poll: summary + the page of clients on screen, both read from our
	 * own table. Sessions (a walk of the kernel's whole conntrack table) and the
	 * checks only every sixth poll and after a reload. */
	refresh: function(withChecks) {
		var slow = (withChecks === true || ++this.polls % 6 == 0);

		return Promise.all([
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(callClients(this.offset, PAGE), {}),
			slow ? L.resolveDefault(callSessions(), {}) : null,
			slow ? L.resolveDefault(callCheck(), []) : null
		]).then(L.bind(this.update, this));
	},

	/* Once per page: the form re-renders after a quick switch and gets the
	 * same node back, still polled. */
	render: function(data) {
		if (this.node)
			return this.node;

		this.summary = E('p', { 'class': 'vpnpt-summary' });
		this.counters = E('p', { 'class': 'cbi-value-description' });
		this.findings = E('div', { 'class': 'vpnpt-findings' });
		this.protocolTable = new vptable.LiveTable('protocols', [
			_('Protocol'), _('Setting'), _('Now'), _('Helper'), _('Blocked traffic'), _('Passed traffic'), ''
		], _('No protocol information.'));
		this.clientTable = new vptable.LiveTable('clients', [
			_('Name'), _('Action'), _('Protocols'), _('Devices'), _('Blocked traffic')
		], _('No per-client rules.'));
		this.sessionTable = new vptable.LiveTable('sessions', [
			_('Protocol'), _('Device on LAN'), _('VPN server'), _('State'), _('Age'), _('Traffic'), _('Helper')
		], _('No VPN sessions pass through the router right now.'));
		this.pager = E('div');
		this.sessionNote = E('p', { 'class': 'cbi-value-description' });

		this.node = E('div', { 'class': 'cbi-section', 'id': 'vpnpt-live' }, [
			E('h3', [ _('Live status') ]),
			this.summary,
			E('div', [
				E('button', { 'class': 'btn cbi-button cbi-button-apply', 'click': ui.createHandlerFn(this, 'handleReload') }, [ _('Apply rules again') ]), ' ',
				E('button', { 'class': 'btn cbi-button cbi-button-reset', 'click': ui.createHandlerFn(this, 'handleResetCounters') }, [ _('Reset counters') ])
			]),
			E('h4', [ _('Protocols') ]), this.protocolTable.node, this.counters,
			E('h4', [ _('Checks') ]), this.findings,
			this.clientPanel = E('div', [ E('h4', [ _('Per-client rules') ]), this.clientTable.node, this.pager ]),
			E('h4', [ _('Active VPN sessions') ]), this.sessionTable.node, this.sessionNote
		]);

		this.update(data);
		poll.add(L.bind(this.refresh, this, false), 5);

		return this.node;
	},

	update: function(data) {
		var status = data[0] || {};

		this.updateSummary(status);
		this.updateClients(data[1]);
		if (data[2] != null)
			this.updateSessions(data[2]);
		if (data[3] != null)
			this.updateFindings(status, data[3]);
	},

	updateSummary: function(status) {
		var text, protocols = status.protocols || {};

		if (status.enabled == null)
			text = _('The vpn-passthrough service does not answer.');
		else if (!status.enabled)
			text = _('VPN passthrough control is turned off: this service adds no rules.');
		else if (!status.applied)
			text = _('The settings are not applied yet.');
		else
			text = _('Rules are active on LAN %s and WAN %s.').format(
				(status.lan_devices || []).join(', ') || '-', (status.wan_devices || []).join(', ') || '-');

		var down = [ 'lan', 'wan' ].reduce(function(list, side) {
			return list.concat(((status.zones || {})[side] || {}).down || []);
		}, []);

		if (down.length)
			text += ' ' + _('Networks without a device (down): %s.').format(down.join(', '));

		dom.content(this.summary, text);
		dom.content(this.counters, status.counters_since
			? _('Counters since %s.').format(new Date(status.counters_since * 1000).toLocaleString()) : '');

		this.protocolTable.update(msg.protocols.map(L.bind(function(proto) {
			var p = protocols[proto] || {}, on = !!p.configured;

			return { key: proto, cells: [
				msg.protocolName(proto),
				(p.configured == null) ? '-' : (on ? _('On') : _('Off')),
				{ sig: String(p.effective), node: function() {
					var cls = { on: 'label success', degraded: 'label warning' }[p.effective] || 'label';
					return E('span', { 'class': cls, 'data-protocol': proto }, [ msg.effective(p.effective) ]);
				} },
				msg.helper(p.helper),
				formatCounter(p.blocked),
				formatCounter(p.passed),
				{ sig: 'switch:' + on, node: L.bind(function() {
					return E('button', {
						'class': 'btn cbi-button cbi-button-' + (on ? 'negative' : 'positive'),
						'data-switch': proto,
						'click': ui.createHandlerFn(this, 'handleQuickSwitch', proto, !on)
					}, [ on ? _('Turn off now') : _('Turn on now') ]);
				}, this) }
			] };
		}, this)));
	},

	updateFindings: function(status, findings) {
		var items = (findings || []).map(function(f) {
			var t = msg.finding(f);

			return E('div', {
				'class': 'alert-message ' + ({ error: 'error', warning: 'warning' }[f.severity] || 'notice'),
				'data-finding': f.id || ''
			}, [
				E('strong', [ msg.severity(f.severity), ': ' ]), t.message,
				t.detail ? E('div', { 'class': 'cbi-value-description' }, [ t.detail ]) : '',
				t.fix.length ? E('div', [ E('strong', [ _('Fix:'), ' ' ]) ].concat(msg.fixNodes(t.fix))) : ''
			]);
		});

		dom.content(this.findings, items.length ? items : E('p', [ _('No problems found.') ]));
	},

	updateClients: function(reply) {
		var total = (reply && reply.total) || 0, clients = (reply && reply.clients) || [];

		if (reply && reply.offset != null)
			this.offset = reply.offset;

		/* a service without `clients` has no counters to show: no empty table */
		this.clientPanel.hidden = !(reply && reply.total != null);

		this.clientTable.update(clients.map(function(c) {
			return { key: c.label || c.name, cells: [
				c.name || c.label || '-',
				msg.action(c.action),
				(c.protocols && c.protocols.length) ? c.protocols.map(msg.protocolName).join(', ') : _('All'),
				(c.hosts || []).join(', ') || '-',
				formatCounter(c.blocked)
			] };
		}));

		dom.content(this.pager, total > PAGE ? E('div', { 'class': 'cbi-page-actions' }, [
			E('button', { 'class': 'btn', 'disabled': this.offset > 0 ? null : '', 'click': ui.createHandlerFn(this, 'handlePage', -1) }, [ '«' ]),
			' ', _('%d-%d of %d').format(this.offset + 1, this.offset + clients.length, total), ' ',
			E('button', { 'class': 'btn', 'disabled': this.offset + PAGE < total ? null : '', 'click': ui.createHandlerFn(this, 'handlePage', 1) }, [ '»' ])
		]) : '');
	},

	updateSessions: function(reply) {
		var flows = (reply && (reply.flows || reply.sessions)) || [];

		this.sessions = flows;
		if (this.onSessions)
			this.onSessions(flows);
		this.sessionTable.update(flows.map(function(s, i) {
			return { key: [ s.protocol, s.client, s.sport, s.server, s.dport, s.l4 ].join('|'), cells: [
				msg.protocolName(s.protocol),
				endpoint(s.client, s.sport),
				endpoint(s.server, s.dport) + (s.l4 ? ' (' + String(s.l4).toUpperCase() + ')' : ''),
				s.state || '-',
				formatAge(s.age),
				(s.packets == null) ? '-' : formatCounter(s),
				s.helper || '-'
			] };
		}));

		dom.content(this.sessionNote, (reply && reply.truncated)
			? _('Showing %d of %d sessions.').format(flows.length, reply.total) : '');
	}
});
