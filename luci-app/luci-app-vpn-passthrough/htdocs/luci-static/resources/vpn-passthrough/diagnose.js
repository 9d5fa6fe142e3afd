'use strict';
'require baseclass';
'require dom';
'require rpc';
'require ui';
'require vpn-passthrough.messages as msg';

/*
 * "Why does my VPN not work?": pick a device the router knows (luci-rpc
 * getHostHints) or one seen in the live sessions, ask the service's
 * `diagnose {host}`, and show one verdict per protocol with its evidence and
 * fix, the verdict and fix translated by id. Diagnose changes nothing.
 */

var callDiagnose = rpc.declare({ object: 'luci.vpn-passthrough', method: 'diagnose', params: [ 'host' ] });

/* The verdicts of a reply as [{ protocol, id, message, evidence: [..], fix }],
 * whether the service lists them or keys them by protocol. */
function verdicts(reply) {
	var list = [];

	if (Array.isArray(reply.verdicts))
		list = reply.verdicts;
	else if (reply.protocols && typeof(reply.protocols) == 'object')
		list = Object.keys(reply.protocols).sort().map(function(proto) {
			var v = reply.protocols[proto] || {};
			return Object.assign({ protocol: proto }, v);
		});

	return list.map(function(v) {
		var ev = v.evidence;
		return Object.assign({}, v, {
			evidence: Array.isArray(ev) ? ev : (ev == null || ev === '') ? [] :
				(typeof(ev) == 'object') ? Object.keys(ev).map(function(k) { return k + ': ' + JSON.stringify(ev[k]); }) : [ String(ev) ]
		});
	});
}

return baseclass.extend({
	/* hosts: getHostHints' reply; sessions(): the live panel's current flows. */
	render: function(hosts, sessions) {
		if (this.node)
			return this.node;

		this.hosts = hosts || {};
		this.sessions = sessions;
		this.select = E('select', { 'class': 'cbi-input-select', 'id': 'vpnpt-diagnose-host' });
		this.result = E('div', { 'id': 'vpnpt-diagnose-result' });
		this.fillHosts();

		return this.node = E('div', { 'class': 'cbi-section', 'id': 'vpnpt-diagnose' }, [
			E('h3', [ _('Diagnose a device') ]),
			E('p', { 'class': 'cbi-section-descr' }, [
				_('Why does a VPN not connect from a device? Pick the device, start the VPN on it, then press Diagnose. This only looks; it changes nothing.')
			]),
			E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'vpnpt-diagnose-host' }, [ _('Device') ]),
				E('div', { 'class': 'cbi-value-field' }, [
					this.select, ' ',
					E('button', { 'class': 'btn cbi-button cbi-button-action', 'id': 'vpnpt-diagnose-run',
					              'click': ui.createHandlerFn(this, 'handleDiagnose') }, [ _('Diagnose') ])
				])
			]),
			this.result
		]);
	},

	/* Known hosts first, then session devices the hints do not name; called
	 * again by the view whenever the live sessions change. */
	fillHosts: function() {
		if (!this.select)
			return;

		var choices = [], known = {}, current = this.select.value;

		Object.keys(this.hosts).sort().forEach(L.bind(function(mac) {
			var h = this.hosts[mac] || {}, addrs = (h.ipaddrs || []).concat(h.ip6addrs || []);
			addrs.concat([ mac ]).forEach(function(a) { known[a] = true; });
			choices.push([ mac, '%s (%s)'.format(h.name || addrs[0] || mac, mac) ]);
		}, this));

		((this.sessions && this.sessions()) || []).forEach(function(s) {
			if (s.client && !known[s.client]) {
				known[s.client] = true;
				choices.push([ s.client, _('%s (in a VPN session now)').format(s.client) ]);
			}
		});

		/* Rebuilt only when the list changes: an open drop-down stays open. */
		var sig = JSON.stringify(choices);
		if (sig === this.sig)
			return;
		this.sig = sig;

		dom.content(this.select, choices.length ? choices.map(function(c) {
			return E('option', { 'value': c[0], 'selected': (c[0] == current) ? '' : null }, [ c[1] ]);
		}) : E('option', { 'value': '' }, [ _('No known devices') ]));
	},

	handleDiagnose: function(ev) {
		var host = this.select.value;

		if (!host)
			return;

		dom.content(this.result, E('p', { 'class': 'spinning' }, [ _('Diagnosing %s…').format(host) ]));

		return L.resolveDefault(callDiagnose(host), null).then(L.bind(function(reply) {
			this.show(host, reply);
		}, this));
	},

	show: function(host, reply) {
		if (!reply || typeof(reply) != 'object') {
			dom.content(this.result, E('div', { 'class': 'alert-message warning' }, [
				_('The service cannot diagnose yet (no diagnose method or no answer).')
			]));
			return;
		}

		if (reply.error || reply.ok === false) {
			dom.content(this.result, E('div', { 'class': 'alert-message error' }, [
				_('Diagnosis failed: %s').format(reply.error)
			]));
			return;
		}

		var list = verdicts(reply);

		dom.content(this.result, [
			E('h4', [ _('Diagnosis of %s').format(reply.host || host) ]),
			list.length ? E('table', { 'class': 'table', 'data-table': 'diagnosis' }, [
				E('tr', { 'class': 'tr table-titles' }, [
					E('th', { 'class': 'th' }, [ _('Protocol') ]),
					E('th', { 'class': 'th' }, [ _('Verdict') ]),
					E('th', { 'class': 'th' }, [ _('Evidence') ]),
					E('th', { 'class': 'th' }, [ _('Fix') ])
				])
			].concat(list.map(function(v) {
				var t = msg.verdict(v);

				return E('tr', { 'class': 'tr', 'data-verdict': v.verdict || v.id || '' }, [
					E('td', { 'class': 'td', 'data-title': _('Protocol') }, [ v.protocol ? msg.protocolName(v.protocol) : '-' ]),
					E('td', { 'class': 'td', 'data-title': _('Verdict') }, [ E('strong', [ t.title ]) ]),
					E('td', { 'class': 'td', 'data-title': _('Evidence') }, [
						v.evidence.length ? E('ul', v.evidence.map(function(e) { return E('li', [ E('code', [ String(e) ]) ]); })) : '-'
					]),
					E('td', { 'class': 'td', 'data-title': _('Fix') }, t.fix.length ? msg.fixNodes(t.fix) : [ '-' ])
				]);
			}))) : E('p', [ _('Nothing was seen from this device.') ])
		]);
	}
});
