'use strict';
'require view';
'require form';
'require rpc';
'require uci';
'require ui';
'require vpn-passthrough.status as vpstatus';
'require vpn-passthrough.diagnose as vpdiagnose';
'require vpn-passthrough.messages as msg';

/*
 * Network → VPN Passthrough. The settings are a form.Map on
 * /etc/config/vpn-passthrough, saved by LuCI's own Save & Apply; the service's
 * procd reload trigger applies them. The live panel (resources/vpn-passthrough/
 * status.js) and the per-device diagnosis (diagnose.js) talk to the service's
 * `luci.vpn-passthrough` ubus object; the ACL in root/usr/share/rpcd/acl.d
 * grants exactly the methods they call.
 */

var callHostHints = rpc.declare({
	object: 'luci-rpc',
	method: 'getHostHints',
	expect: { '': {} }
});

function protocolFlags() {
	return [
		[ 'pptp', _('PPTP passthrough'),
		  _('Passes PPTP (TCP port 1723 and GRE) and sets up the PPTP helper so several devices can use the same server. PPTP security is weak: turn this off unless you still need an old PPTP VPN. IPv4 only.') ],
		[ 'l2tp', _('L2TP passthrough'),
		  _('Passes L2TP (UDP port 1701), usually run inside IPsec. Turn this off to stop devices from using L2TP VPNs.') ],
		[ 'ipsec', _('IPsec passthrough'),
		  _('Passes IPsec (IKE on UDP ports 500 and 4500, ESP and AH), used by most company and phone VPNs. Turn this off only to stop devices from using IPsec VPNs.') ]
	];
}

var CLIENTS_PER_PAGE = 50;

/*
 * The client table one page at a time. LuCI's form looks every widget up in
 * the whole page (form.js findElement), so its cost grows with the square of
 * the rows: measured in real LuCI, 1,000 clients on one page kept Chromium
 * busy for over a minute. Edits of other pages stay staged (Map.save).
 */
function pageClients(s) {
	s.page = 0;

	s.cfgsections = function() {
		var sids = form.TableSection.prototype.cfgsections.call(this),
		    start = this.page * CLIENTS_PER_PAGE;

		this.total = sids.length;

		return sids.slice(start, start + CLIENTS_PER_PAGE);
	};

	/* A new client is the last one: show its page. */
	s.handleAdd = function(ev, name) {
		var last = Math.floor(this.total / CLIENTS_PER_PAGE);

		this.map.data.add(this.uciconfig || this.map.config, this.sectiontype, name);

		return this.map.save(L.bind(function() { this.page = last; }, this), true);
	};

	s.handlePage = function(delta, ev) {
		return this.map.save(L.bind(function() { this.page += delta; }, this), true);
	};

	s.renderContents = function(cfgsections, nodes) {
		var el = form.TableSection.prototype.renderContents.call(this, cfgsections, nodes),
		    start = this.page * CLIENTS_PER_PAGE;

		if (this.total > CLIENTS_PER_PAGE)
			el.appendChild(E('div', { 'class': 'cbi-section-create', 'data-pager': 'clients' }, [
				E('button', { 'class': 'btn', 'disabled': start > 0 ? null : '',
				              'click': ui.createHandlerFn(this, 'handlePage', -1) }, [ '«' ]),
				' ', _('%d-%d of %d').format(start + 1, start + cfgsections.length, this.total), ' ',
				E('button', { 'class': 'btn', 'disabled': start + CLIENTS_PER_PAGE < this.total ? null : '',
				              'click': ui.createHandlerFn(this, 'handlePage', 1) }, [ '»' ])
			]));

		return el;
	};
}

return view.extend({
	load: function() {
		return Promise.all([
			vpstatus.load(),
			L.resolveDefault(callHostHints(), {}),
			uci.load('vpn-passthrough')
		]);
	},

	render: function(data) {
		var live = data[0], hosts = data[1] || {}, m, s, o;

		m = new form.Map('vpn-passthrough', _('VPN Passthrough'),
			_('Lets VPN clients on your network reach VPN servers on the internet through this router, per protocol and per device. The live panel shows what passes now.'));

		s = m.section(form.NamedSection, 'globals', 'globals');
		s.render = function() { return vpstatus.render(live); };

		s = m.section(form.NamedSection, 'globals', 'globals');
		s.render = function() {
			return vpdiagnose.render(hosts, function() { return vpstatus.sessions; });
		};

		s = m.section(form.NamedSection, 'globals', 'globals', _('Settings'));
		s.addremove = false;
		s.tab('general', _('General'));
		s.tab('advanced', _('Advanced'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enable'),
			_('Lets this service control VPN passthrough. When off it adds no rules and VPN traffic is handled by the firewall alone.'));
		o.default = '1';
		o.rmempty = false;

		/* Each switch lives in its own section (config protocol 'pptp' …). */
		protocolFlags().forEach(function(p) {
			o = s.taboption('general', form.Flag, p[0] + '_enabled', p[1], p[2]);
			o.ucisection = p[0];
			o.ucioption = 'enabled';
			o.default = '1';
			o.rmempty = false;
		});

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
		pageClients(s);

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
		o.value('block', msg.action('block'));
		o.value('allow', msg.action('allow'));
		o.default = 'block';
		o.rmempty = false;

		o = s.option(form.MultiValue, 'protocol', _('Protocols'));
		msg.protocols.forEach(function(proto) { o.value(proto, msg.protocolName(proto)); });
		o.placeholder = _('All');

		/* A quick switch wrote the file behind the form's back: read it again. */
		vpstatus.onChange = function() {
			uci.unload('vpn-passthrough');
			return m.render();
		};
		vpstatus.onSessions = function() { vpdiagnose.fillHosts(); };

		return m.render();
	}
});
