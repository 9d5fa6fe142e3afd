'use strict';
'require baseclass';

/*
 * The service reports in English with stable ids (README: "What `check`
 * reports"; `diagnose` verdicts). The page shows the translation chosen by
 * id, so every language reads its own; commands in fixes are shown as they
 * are, since they are typed into a shell. An id this page does not know yet
 * falls back to the service's English text.
 */

var PROTOCOL_NAMES = { pptp: 'PPTP', l2tp: 'L2TP', ipsec: 'IPsec' };

/* The part of a service string between two patterns, or null. */
function pick(text, re) {
	var m = re.exec(String(text || ''));
	return m ? m[1] : null;
}

/* The commands in a service fix, as typed (the prose around them is English). */
var COMMAND = /(?:uci (?:set|del_list|commit|delete) [^;()]*[^;()\s]|ifup [\w.-]+|ubus call [\w.-]+ \w+|opkg install [\w.-]+|sysctl -w \S+|vpn-passthrough \w+|fw4 reload|nft -a list chain [\w-]+ [\w-]+|\/etc\/init\.d\/[\w-]+ \w+)/g;

function commands(fix) {
	return String(fix || '').match(COMMAND) || [];
}

/* lead text, then each command of the service's fix */
function withCommands(lead, fix) {
	var out = [ lead ];

	commands(fix).forEach(function(c, i) {
		if (i)
			out.push(' ');
		out.push(c);
	});

	return out;
}

/* Findings of `check`: id -> message(f) and fix(f) -> [ text, command, … ]
 * where every odd element is a command shown in <code>. */
var FINDINGS = {
	nft_missing: {
		message: function() { return _('nft is not installed: no rules can be loaded.'); },
		fix: function(f) { return [ _('Install it:'), f.fix ]; }
	},
	conntrack_missing: {
		message: function() { return _('conntrack is not installed: running tunnels are not cut when a switch goes off, and sessions cannot be listed.'); },
		fix: function(f) { return [ _('Install it:'), f.fix ]; }
	},
	ubus_missing: {
		message: function() { return _('python3-ubus is not installed: the ubus object and this page are unavailable.'); },
		fix: function(f) { return [ _('Install it:'), f.fix ]; }
	},
	settings_invalid: {
		message: function(f) {
			var field = pick(f.message, /^(vpn-passthrough\.[^:\s]+):/);
			return field ? _('The setting %s is invalid.').format(field)
			             : _('A setting in /etc/config/vpn-passthrough is invalid.');
		},
		detail: function(f) { return f.message; },
		fix: function() { return [ _('Correct the option named above, then apply:'), 'vpn-passthrough apply' ]; }
	},
	disabled: {
		message: function() { return _('vpn-passthrough is disabled: nothing is blocked and no helper is assigned.'); },
		fix: function(f) { return [ _('Turn it on with "Enable" above, or run:'), f.fix ]; }
	},
	not_applied: {
		message: function() { return _('The rules (table inet vpn_passthrough) are not loaded: the service is stopped or failed.'); },
		fix: function(f) { return [ _('Restart the service:'), f.fix ]; }
	},
	pptp_helper_missing: {
		message: function() { return _('The kernel has no PPTP conntrack helper: PPTP passes without call-ID translation (one device per server).'); },
		/* the command is the release's own (opkg or apk), from the service */
		fix: function(f) { return [ _('Install the PPTP helper:'), f.fix ]; }
	},
	pptp_nat_missing: {
		message: function() { return _('nf_nat_pptp is not loaded: two devices cannot reach the same PPTP server at once.'); },
		fix: function(f) { return [ _('Install and load it:'), f.fix ]; }
	},
	pptp_helper_not_assigned: {
		message: function() { return _('The kernel has the PPTP helper now, but the loaded rules were applied while it was missing and do not assign it.'); },
		fix: function(f) { return [ _('Apply the rules again:'), f.fix ]; }
	},
	fw4_missing: {
		message: function() { return _('fw4 (table inet fw4) is not loaded: nothing else filters forwarded traffic, and nothing masquerades the LAN devices.'); },
		fix: function(f) { return [ _('Start the firewall:'), f.fix ]; }
	},
	fw4_assigns_pptp: {
		message: function() { return _('The firewall assigns the PPTP helper while PPTP passthrough is off: PPTP stays blocked, but the helper module stays in use.'); },
		fix: function() {
			return [ _('Run'), 'uci set firewall.@defaults[0].auto_helper=0',
			         _('or remove pptp from the zones\' helper lists, then'), 'fw4 reload' ];
		}
	},
	fw4_pptp_helper: {
		message: function(f) {
			return _('Firewall zone %s assigns the PPTP helper while PPTP passthrough is off: PPTP stays blocked, but the helper module stays in use.')
				.format(pick(f.message, /zone '([^']*)'/) || '?');
		},
		fix: function(f) { return [ _('Run:'), f.fix ]; }
	},
	flow_offloading: {
		message: function() { return _('Flow offloading is on: established L2TP and IPsec NAT-T flows bypass the forward chain, so their passed counters stop (blocking and cutting still work).'); },
		fix: function() { return [ _('If exact counters matter:'), 'uci set firewall.@defaults[0].flow_offloading=0' ]; }
	},
	zones_invalid: {
		message: function(f) {
			var field = pick(f.message, /^(vpn-passthrough\.[^:\s]+):/);
			return field ? _('The setting %s is invalid.').format(field)
			             : _('The LAN or WAN zones cannot be resolved.');
		},
		detail: function(f) { return f.message; },
		fix: function() { return [ _('Correct the option named above, then apply:'), 'vpn-passthrough apply' ]; }
	},
	zone_network_down: {
		message: function(f) {
			return _('Network %s of the %s zone has no device (down): no rule matches its traffic until it comes up.')
				.format(pick(f.message, /network '([^']*)'/) || '?', pick(f.message, /of the (\w+) zone/) || '?');
		},
		fix: function(f) { return withCommands(_('Bring it up; the service applies again by itself:'), f.fix); }
	},
	fw4_include_missing: {
		message: function() { return _('The firewall does not include this table: after a firewall restart, or stop and start, the switches stop working until the next apply.'); },
		fix: function(f) { return withCommands(_('Apply again; if it stays, check that /usr/share/nftables.d and /var/run are writable:'), f.fix); }
	},
	acct_off: {
		message: function() { return _('Conntrack accounting is off: sessions show no byte or packet counts.'); },
		fix: function(f) { return [ _('Turn it on:'), f.fix ]; }
	}
};

/* Verdicts of `diagnose` (src/vpn_passthrough/verdicts.py): id -> { title,
 * fix(v) -> [text, command, …] }. */
var VERDICTS = {
	blocked_switch: {
		title: function() { return _('Blocked here: the protocol\'s switch is off'); },
		fix: function(v) { return withCommands(_('Turn the protocol\'s switch on, or add an "Allow" rule for this device under Per-client policy:'), v.fix); }
	},
	blocked_client: {
		title: function() { return _('Blocked here by a per-client rule'); },
		fix: function(v) { return withCommands(_('Allow the protocol for this device in its rule:'), v.fix); }
	},
	blocked_elsewhere: {
		title: function() { return _('Blocked elsewhere on this router, by another firewall table'); },
		fix: function(v) { return withCommands(_('Remove or narrow the rule named in the evidence, or exempt this device in the package that made it:'), v.fix); }
	},
	unanswered: {
		title: function() { return _('Sent but never answered'); },
		fix: function() { return [ _('The VPN server or something upstream does not answer. If the router\'s WAN address is private (double NAT or carrier-grade NAT), ask the provider for a public address or use a VPN over NAT-T or TCP.') ]; }
	},
	pptp_helper_not_assigned: {
		title: function() { return _('PPTP helper not assigned to this connection'); },
		fix: function(v) { return withCommands(_('Apply the rules again, then reconnect the VPN on this device:'), v.fix); }
	},
	pptp_nat_missing: {
		title: function() { return _('PPTP call IDs are not translated (nf_nat_pptp missing)'); },
		fix: function(v) { return withCommands(_('Install the PPTP NAT helper so several devices can reach the same server:'), v.fix); }
	},
	pptp_ok: {
		title: function() { return _('PPTP: helper assigned, call IDs translated'); },
		fix: function() { return []; }
	},
	esp_without_natt: {
		title: function() { return _('IPsec ESP without NAT-T through NAT'); },
		fix: function() { return [ _('Only one device at a time can reach this server: turn on NAT traversal (NAT-T, UDP 4500) in the VPN client or server.') ]; }
	},
	natt_ok: {
		title: function() { return _('IPsec with NAT-T: working'); },
		fix: function() { return []; }
	},
	ok: {
		title: function() { return _('Seen and answered: nothing wrong found here'); },
		fix: function() { return []; }
	},
	no_traffic: {
		title: function() { return _('No VPN traffic from this device seen; nothing here blocks it'); },
		fix: function() { return [ _('Start the VPN on the device, then press Diagnose again.') ]; }
	},
	limited_view: {
		title: function() { return _('Conntrack accounting or flow offloading limits what can be seen'); },
		fix: function(v) { return withCommands(_('To see more:'), v.fix); }
	},
	disabled: {
		title: function() { return _('vpn-passthrough is disabled or its rules are not loaded'); },
		fix: function(v) { return withCommands(_('Turn it on with "Enable" above, or run:'), v.fix); }
	}
};

return baseclass.extend({
	protocols: [ 'pptp', 'l2tp', 'ipsec' ],

	protocolName: function(proto) {
		if (proto == 'all')
			return _('This device');

		return PROTOCOL_NAMES[proto] || String(proto || '-');
	},

	effective: function(state) {
		switch (state) {
		case 'on': return _('Passing');
		case 'off': return _('Blocked');
		case 'degraded': return _('Passing without helper');
		case 'disabled': return _('Not controlled');
		default: return _('Unknown');
		}
	},

	helper: function(state) {
		switch (state) {
		case 'assigned': return _('Assigned');
		case 'none': return _('Not used');
		case 'missing': return _('Missing from the kernel');
		default: return _('Unknown');
		}
	},

	severity: function(severity) {
		switch (severity) {
		case 'error': return _('Error');
		case 'warning': return _('Warning');
		default: return _('Note');
		}
	},

	action: function(action) {
		return (action == 'allow') ? _('Allow') : _('Block');
	},

	/* { message, detail, fix: [text, command, …] } for a `check` finding. */
	finding: function(f) {
		var t = FINDINGS[f.id];

		if (!t)
			return { message: String(f.message || f.id || ''), detail: null,
			         fix: f.fix ? [ _('Fix:'), String(f.fix) ] : [] };

		return { message: t.message(f), detail: t.detail ? t.detail(f) : null,
		         fix: f.fix ? t.fix(f) : [] };
	},

	/* [text, command, text, …] -> nodes, each command in <code> as typed. */
	fixNodes: function(parts) {
		return parts.map(function(p, i) {
			return !p ? '' : (i % 2) ? E('code', [ String(p) ]) : E('span', [ String(p), ' ' ]);
		});
	},

	/* { title, fix } for a `diagnose` verdict ({ verdict: id, fix, … }). */
	verdict: function(v) {
		var t = VERDICTS[v.verdict || v.id];

		if (!t)
			return { title: String(v.message || v.id || ''), fix: v.fix ? [ _('Fix:'), String(v.fix) ] : [] };

		return { title: t.title(v), fix: t.fix(v) };
	}
});
