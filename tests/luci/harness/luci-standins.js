/*
 * STAND-INS FOR LuCI — NOT THE REAL LuCI.
 *
 * Small re-implementations of exactly the parts of luci.js, form.js, rpc.js,
 * uci.js, ui.js and the poll class that the vpn-passthrough view uses, so the
 * browser test can render the real view file without a router. They follow the
 * real classes' behaviour in what the view relies on:
 *
 *  - views are loaded as LuCI loads them: the file's 'require x' strings become
 *    parameters of a function whose body is the file (luci.js compileClass);
 *  - form.Map reads and writes UCI through the uci stand-in; options honour
 *    default, rmempty, ucisection/ucioption, value(); widget ids are the real
 *    "cbid.<config>.<section>.<option>"; Save parses every option and records
 *    what uci.set/unset would stage (window.__harness.uciChanges);
 *  - Save & Apply = Save + ui.changes.apply(true) (LuCI's standard apply;
 *    recorded in window.__harness.applied);
 *  - rpc.declare maps params and expect like rpc.js and answers from canned
 *    replies; calls the app's ACL does not grant are refused, as rpcd does;
 *  - poll.add queues functions; the test runs them with __harness.pollStep();
 *  - _() looks strings up in a catalog read from the compiled .lmo, hashing the
 *    whitespace-normalised msgid with the same SuperFastHash LuCI uses.
 *
 * Not implemented here: datatype validation, depends(), modal sections,
 * sorting by drag and drop, the real rollback-protected apply.
 */
(function(window, document) {
	'use strict';

	var H = window.__harness = {
		uciChanges: [], rpcCalls: [], applied: 0, notifications: [], modals: [],
		pollQueue: [], replies: {}, acl: null, catalog: null
	};

	/* ---- luci.js: Class ---- */
	var Class = function() {};
	Class.extend = function(props) {
		var Parent = this;
		var Ctor = function() {
			if (typeof this.__init__ == 'function')
				return this.__init__.apply(this, arguments);
		};
		Ctor.prototype = Object.create(Parent.prototype);
		Object.keys(props).forEach(function(k) { Ctor.prototype[k] = props[k]; });
		Ctor.prototype.constructor = Ctor;
		Ctor.prototype.__base__ = Parent.prototype;
		Ctor.extend = Class.extend;
		Ctor.instantiate = function(args) {
			return new (Function.prototype.bind.apply(Ctor, [null].concat(args)))();
		};
		return Ctor;
	};
	Class.prototype.super = function(key, args) {
		return Object.getPrototypeOf(Object.getPrototypeOf(this))[key].apply(this, args || []);
	};

	/* ---- luci.js: String.format (the %s / %d / %f / %% subset) ---- */
	String.prototype.format = function() {
		var args = arguments, i = 0;
		return this.replace(/%(%|(\d*)(?:\.(\d+))?([sdf]))/g, function(m, all, width, prec, conv) {
			if (all == '%')
				return '%';
			var v = args[i++];
			if (conv == 'd')
				return String(parseInt(v, 10) || 0);
			if (conv == 'f')
				return (+v).toFixed(prec ? +prec : 6);
			return String(v == null ? '' : v);
		});
	};

	/* ---- luci.js: L.dom, E() ---- */
	var dom = {
		elem: function(e) { return e != null && typeof e == 'object' && 'nodeType' in e; },
		append: function(node, children) {
			if (Array.isArray(children)) {
				children.forEach(function(c) {
					if (dom.elem(c))
						node.appendChild(c);
					else if (c != null)
						node.appendChild(document.createTextNode('' + c));
				});
				return node.lastChild;
			}
			if (dom.elem(children))
				return node.appendChild(children);
			if (children != null)
				node.innerHTML = '' + children;
			return node.lastChild;
		},
		content: function(node, children) {
			while (node.firstChild)
				node.removeChild(node.firstChild);
			return dom.append(node, children);
		},
		attr: function(node, attrs) {
			Object.keys(attrs || {}).forEach(function(k) {
				var v = attrs[k];
				if (v == null)
					return;
				if (typeof v == 'function')
					node.addEventListener(k, v);
				else if (typeof v == 'object')
					node.setAttribute(k, JSON.stringify(v));
				else
					node.setAttribute(k, v);
			});
		},
		create: function(html, attrs, data) {
			var el;
			if (!(attrs instanceof Object) || Array.isArray(attrs) || dom.elem(attrs))
				data = attrs, attrs = null;
			if (Array.isArray(html)) {
				el = document.createDocumentFragment();
				html.forEach(function(c) { el.appendChild(dom.elem(c) ? c : document.createTextNode('' + c)); });
				return el;
			}
			el = dom.elem(html) ? html : document.createElement(html);
			dom.attr(el, attrs);
			dom.append(el, data);
			return el;
		}
	};
	var E = function() { return dom.create.apply(dom, arguments); };

	/* ---- translation: LuCI's sfh hash over the canonical msgid ---- */
	function utf8(s) { return new TextEncoder().encode(s); }
	function sfh(bytes) {
		var len = bytes.length, hash = len >>> 0, rem = len & 3, i = 0, tmp;
		var s8 = function(b) { return b > 127 ? b - 256 : b; };
		if (!len)
			return 0;
		for (var n = len >>> 2; n > 0; n--, i += 4) {
			hash = (hash + (bytes[i] | bytes[i + 1] << 8)) >>> 0;
			tmp = (((bytes[i + 2] | bytes[i + 3] << 8) << 11) ^ hash) >>> 0;
			hash = ((hash << 16) ^ tmp) >>> 0;
			hash = (hash + (hash >>> 11)) >>> 0;
		}
		switch (rem) {
		case 3:
			hash = (hash + (bytes[i] | bytes[i + 1] << 8)) >>> 0;
			hash = (hash ^ (hash << 16)) >>> 0;
			hash = (hash ^ (s8(bytes[i + 2]) << 18)) >>> 0;
			hash = (hash + (hash >>> 11)) >>> 0;
			break;
		case 2:
			hash = (hash + (bytes[i] | bytes[i + 1] << 8)) >>> 0;
			hash = (hash ^ (hash << 11)) >>> 0;
			hash = (hash + (hash >>> 17)) >>> 0;
			break;
		case 1:
			hash = (hash + s8(bytes[i])) >>> 0;
			hash = (hash ^ (hash << 10)) >>> 0;
			hash = (hash + (hash >>> 1)) >>> 0;
		}
		hash = (hash ^ (hash << 3)) >>> 0;
		hash = (hash + (hash >>> 5)) >>> 0;
		hash = (hash ^ (hash << 4)) >>> 0;
		hash = (hash + (hash >>> 17)) >>> 0;
		hash = (hash ^ (hash << 25)) >>> 0;
		hash = (hash + (hash >>> 6)) >>> 0;
		return hash;
	}
	/* What LuCI's server does with the .lmo files of the chosen language:
	 * a table from key hash to translated text. */
	H.loadLmo = function(buf) {
		var dv = new DataView(buf), size = buf.byteLength, idx = dv.getUint32(size - 4),
		    n = (size - idx - 4) / 16, dec = new TextDecoder(), cat = {};
		for (var k = 0; k < n; k++) {
			var key = dv.getUint32(idx + 16 * k), off = dv.getUint32(idx + 16 * k + 8),
			    len = dv.getUint32(idx + 16 * k + 12);
			cat[key.toString(16)] = dec.decode(new Uint8Array(buf, off, len));
		}
		H.catalog = cat;
	};
	H.sfh = function(s) { return sfh(utf8(s)); };
	H.uci = null;
	var tr = function(s) {
		if (!H.catalog)
			return s;
		var key = String(s).trim().replace(/\s+/g, ' ');
		var t = H.catalog[sfh(utf8(key)).toString(16)];
		return t != null ? t : s;
	};

	/* ---- uci.js (in memory, seeded from a UCI text file) ---- */
	var uci = {
		state: {},
		parse: function(config, text) {
			var conf = this.state[config] = { order: [], sections: {} }, cur = null, anon = 0;
			var unq = function(v) { return v == null ? v : v.replace(/^'(.*)'$|^"(.*)"$/, function(m, a, b) { return a != null ? a : b; }); };
			text.split('\n').forEach(function(line) {
				var m = line.trim().match(/^(config|option|list)\s+(\S+)(?:\s+(.*))?$/);
				if (!m)
					return;
				if (m[1] == 'config') {
					var sid = m[3] ? unq(m[3].trim()) : 'cfg' + ('0' + (++anon).toString(16)).slice(-2) + m[2];
					cur = conf.sections[sid] = { '.name': sid, '.type': m[2], '.anonymous': !m[3] };
					conf.order.push(sid);
				}
				else if (m[1] == 'option')
					cur[m[2]] = unq(m[3].trim());
				else
					(cur[m[2]] = cur[m[2]] || []).push(unq(m[3].trim()));
			});
		},
		load: function(config) { return Promise.resolve([ config ]); },
		get: function(config, sid, opt) {
			var s = (this.state[config] || { sections: {} }).sections[sid];
			if (!s)
				return null;
			return opt == null ? s : (s[opt] != null ? s[opt] : null);
		},
		sections: function(config, type) {
			var conf = this.state[config] || { order: [], sections: {} };
			return conf.order.map(function(sid) { return conf.sections[sid]; })
				.filter(function(s) { return !type || s['.type'] == type; });
		},
		set: function(config, sid, opt, val) {
			var s = this.get(config, sid);
			if (!s)
				return;
			s[opt] = val;
			H.uciChanges.push('%s.%s.%s=%s'.format(config, sid, opt, Array.isArray(val) ? '[' + val.join(',') + ']' : val));
		},
		unset: function(config, sid, opt) {
			var s = this.get(config, sid);
			if (!s || s[opt] == null)
				return;
			delete s[opt];
			H.uciChanges.push('-%s.%s.%s'.format(config, sid, opt));
		},
		add: function(config, type) {
			var conf = this.state[config], sid = 'new' + ('00000' + (conf.order.length + 1).toString(16)).slice(-6);
			conf.sections[sid] = { '.name': sid, '.type': type, '.anonymous': true };
			conf.order.push(sid);
			H.uciChanges.push('+%s.%s=%s'.format(config, sid, type));
			return sid;
		},
		remove: function(config, sid) {
			var conf = this.state[config];
			delete conf.sections[sid];
			conf.order = conf.order.filter(function(s) { return s != sid; });
			H.uciChanges.push('-%s.%s'.format(config, sid));
		}
	};

	/* ---- rpc.js ---- */
	function aclAllows(object, method) {
		var acl = H.acl || {};
		return Object.keys(acl).some(function(name) {
			return [ 'read', 'write' ].some(function(kind) {
				var ubus = ((acl[name] || {})[kind] || {}).ubus || {};
				return (ubus[object] || []).indexOf(method) >= 0;
			});
		});
	}
	var rpc = Class.extend({
		declare: function(opts) {
			return function() {
				var args = {}, params = opts.params || [];
				for (var i = 0; i < params.length && i < arguments.length; i++)
					args[params[i]] = arguments[i];
				H.rpcCalls.push({ object: opts.object, method: opts.method, args: args });
				if (!aclAllows(opts.object, opts.method))
					return Promise.reject(new Error('RPC call to %s/%s failed with ubus code 6: Permission denied'.format(opts.object, opts.method)));
				var reply = H.replies[opts.object + '.' + opts.method];
				if (typeof reply == 'function')
					reply = reply(args);
				if (reply === undefined)
					return Promise.reject(new Error('RPC call to %s/%s failed with ubus code 3: Method not found'.format(opts.object, opts.method)));
				reply = JSON.parse(JSON.stringify(reply));
				if (opts.expect) {
					for (var key in opts.expect) {
						if (reply != null && key != '')
							reply = reply[key];
						if (reply == null || typeof reply != typeof opts.expect[key])
							reply = opts.expect[key];
						break;
					}
				}
				return Promise.resolve(reply);
			};
		}
	});

	/* ---- poll ---- */
	var poll = Class.extend({
		add: function(fn, interval) {
			if (typeof fn != 'function' || !(interval > 0))
				throw new TypeError('Invalid argument to LuCI.poll.add()');
			H.pollQueue.push({ fn: fn, interval: interval });
			return true;
		}
	});
	H.pollStep = function() {
		return Promise.all(H.pollQueue.map(function(e) { return Promise.resolve(e.fn()); }));
	};

	/* ---- ui.js ---- */
	var ui = Class.extend({
		showModal: function(title, children) {
			var m = document.getElementById('modal_overlay') || document.body.appendChild(E('div', { id: 'modal_overlay' }));
			H.modals.push(title);
			dom.content(m, E('div', { 'class': 'modal' }, [ E('h4', {}, [ title ]) ].concat(children)));
			document.body.classList.add('modal-overlay-active');
			return m;
		},
		hideModal: function() {
			document.body.classList.remove('modal-overlay-active');
		},
		addNotification: function(title, children, cls) {
			var n = E('div', { 'class': 'alert-message ' + (cls || '') }, [ title ? E('h4', {}, [ title ]) : '', children ]);
			H.notifications.push(n.textContent);
			document.getElementById('maincontent').insertBefore(n, document.getElementById('view'));
			return n;
		},
		changes: {
			/* Real LuCI: uci apply with rollback, then confirm; rpcd commits,
			 * which emits config.change, which fires the service's procd
			 * reload trigger. The stand-in only records that it was asked. */
			apply: function(checked) { H.applied++; H.appliedChecked = checked; return Promise.resolve(); }
		}
	});

	/* ---- form.js ---- */
	var isEqual = function(a, b) { return JSON.stringify(a) === JSON.stringify(b); };

	var AbstractValue = Class.extend({
		__init__: function(map, section, option, title, description) {
			this.map = map; this.section = section; this.option = option;
			this.title = title || ''; this.description = description || '';
			this.keylist = []; this.vallist = [];
			this.default = null; this.rmempty = true; this.placeholder = null;
		},
		value: function(key, label) { this.keylist.push(String(key)); this.vallist.push(label != null ? label : key); },
		cbid: function(sid) { return 'cbid.%s.%s.%s'.format(this.map.config, sid, this.option); },
		cfgvalue: function(sid) { return uci.get(this.map.config, this.ucisection || sid, this.ucioption || this.option); },
		write: function(sid, val) { uci.set(this.map.config, this.ucisection || sid, this.ucioption || this.option, val); },
		remove: function(sid) { uci.unset(this.map.config, this.ucisection || sid, this.ucioption || this.option); },
		node: function(sid) { return document.getElementById(this.cbid(sid)); },
		formvalue: function(sid) { var n = this.node(sid); return n ? n.value : null; },
		parse: function(sid) {
			var cval = this.cfgvalue(sid), fval = this.formvalue(sid);
			var empty = fval == null || fval === '' || (Array.isArray(fval) && !fval.length);
			if (!empty) {
				if (!isEqual(cval, fval))
					this.write(sid, fval);
			}
			else if (cval != null)
				this.remove(sid);
		},
		render: function(sid) {
			var cval = this.cfgvalue(sid);
			return this.renderWidget(sid, cval != null ? cval : this.default);
		}
	});
	var Value = AbstractValue.extend({
		renderWidget: function(sid, value) {
			return E('input', { type: 'text', 'class': 'cbi-input-text', id: this.cbid(sid),
				value: value != null ? value : '', placeholder: this.placeholder });
		}
	});
	var Flag = AbstractValue.extend({
		__init__: function() {
			AbstractValue.prototype.__init__.apply(this, arguments);
			this.enabled = '1'; this.disabled = '0'; this.default = this.disabled;
		},
		renderWidget: function(sid, value) {
			var id = this.cbid(sid);
			return E('div', { 'class': 'cbi-checkbox' }, [
				E('input', { type: 'checkbox', id: id, checked: value == this.enabled ? '' : null }),
				E('label', { 'for': id })
			]);
		},
		formvalue: function(sid) { var n = this.node(sid); return n && n.checked ? this.enabled : this.disabled; },
		parse: function(sid) {
			var cval = this.cfgvalue(sid), fval = this.formvalue(sid);
			if (fval != (cval != null ? cval : this.default))
				this.write(sid, fval);
		}
	});
	var ListValue = AbstractValue.extend({
		renderWidget: function(sid, value) {
			return E('select', { 'class': 'cbi-input-select', id: this.cbid(sid) }, this.keylist.map(function(k, i) {
				return E('option', { value: k, selected: k == value ? '' : null }, [ this.vallist[i] ]);
			}, this));
		}
	});
	var DynamicList = AbstractValue.extend({
		renderWidget: function(sid, value) {
			var self = this, listId = this.cbid(sid) + '.choices';
			var box = E('div', { 'class': 'cbi-dynlist', id: this.cbid(sid) });
			var addItem = function(v) {
				var label = self.keylist.indexOf(v) >= 0 ? self.vallist[self.keylist.indexOf(v)] : v;
				box.insertBefore(E('div', { 'class': 'item', 'data-value': v }, [
					E('span', {}, [ label ]),
					E('span', { 'class': 'remove', click: function(ev) { ev.currentTarget.parentNode.remove(); } }, [ ' \u00d7' ])
				]), box.querySelector('.add-item'));
			};
			var input = E('input', { type: 'text', list: listId, placeholder: this.placeholder || '' });
			box.appendChild(E('div', { 'class': 'add-item' }, [
				input,
				E('datalist', { id: listId }, this.keylist.map(function(k, i) { return E('option', { value: k }, [ self.vallist[i] ]); })),
				E('button', { 'class': 'cbi-button cbi-button-add', type: 'button', click: function() {
					if (input.value) { addItem(input.value); input.value = ''; }
				} }, [ '+' ])
			]));
			(Array.isArray(value) ? value : (value ? String(value).split(/\s+/) : [])).forEach(addItem);
			return box;
		},
		formvalue: function(sid) {
			var n = this.node(sid);
			return n ? Array.prototype.map.call(n.querySelectorAll('.item'), function(i) { return i.getAttribute('data-value'); }) : null;
		}
	});
	var MultiValue = DynamicList.extend({
		renderWidget: function(sid, value) {
			var vals = Array.isArray(value) ? value : (value ? String(value).split(/\s+/) : []);
			return E('div', { 'class': 'cbi-multivalue', id: this.cbid(sid), title: this.placeholder || '' }, this.keylist.map(function(k, i) {
				return E('label', {}, [ E('input', { type: 'checkbox', value: k, checked: vals.indexOf(k) >= 0 ? '' : null }), ' ', this.vallist[i], ' ' ]);
			}, this));
		},
		formvalue: function(sid) {
			var n = this.node(sid);
			return n ? Array.prototype.filter.call(n.querySelectorAll('input'), function(i) { return i.checked; })
				.map(function(i) { return i.value; }) : null;
		}
	});

	var AbstractSection = Class.extend({
		__init__: function(map, title, description) {
			this.map = map; this.title = title || ''; this.description = description || '';
			this.children = []; this.tabs = null;
		},
		option: function(cls, name, title, description) {
			var o = new cls(this.map, this, name, title, description);
			this.children.push(o);
			return o;
		},
		tab: function(name, title) { (this.tabs = this.tabs || []).push({ name: name, title: title }); },
		taboption: function(tab, cls, name, title, description) {
			var o = this.option(cls, name, title, description);
			o.tab = tab;
			return o;
		},
		parse: function() {
			this.cfgsections().forEach(function(sid) {
				this.children.forEach(function(o) { o.parse(sid); });
			}, this);
		},
		renderOption: function(o, sid) {
			return E('div', { 'class': 'cbi-value', 'data-name': o.option }, [
				E('label', { 'class': 'cbi-value-title', 'for': o.cbid(sid) }, [ o.title ]),
				E('div', { 'class': 'cbi-value-field' }, [
					o.render(sid),
					o.description ? E('div', { 'class': 'cbi-value-description' }, [ o.description ]) : ''
				])
			]);
		},
		renderOptions: function(sid) {
			if (!this.tabs)
				return this.children.map(function(o) { return this.renderOption(o, sid); }, this);
			var panes = this.tabs.map(function(t, i) {
				return E('div', { 'class': 'cbi-tabcontainer', 'data-tab': t.name, style: i ? 'display:none' : '' },
					this.children.filter(function(o) { return o.tab == t.name; })
						.map(function(o) { return this.renderOption(o, sid); }, this));
			}, this);
			var menu = E('ul', { 'class': 'cbi-tabmenu' }, this.tabs.map(function(t, i) {
				return E('li', { 'class': i ? 'cbi-tab-disabled' : 'cbi-tab', 'data-tab': t.name, click: function(ev) {
					menu.querySelectorAll('li').forEach(function(li) { li.className = li == ev.currentTarget ? 'cbi-tab' : 'cbi-tab-disabled'; });
					panes.forEach(function(p) { p.style.display = p.getAttribute('data-tab') == t.name ? '' : 'none'; });
				} }, [ E('a', { href: '#' }, [ t.title ]) ]);
			}));
			return [ menu ].concat(panes);
		},
		renderHeader: function() {
			return [ this.title ? E('h3', {}, [ this.title ]) : '',
			         this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : '' ];
		}
	});
	var NamedSection = AbstractSection.extend({
		__init__: function(map, sid, type, title, description) {
			AbstractSection.prototype.__init__.call(this, map, title, description);
			this.section = sid; this.sectiontype = type;
		},
		cfgsections: function() { return uci.get(this.map.config, this.section) ? [ this.section ] : []; },
		render: function() {
			return E('div', { 'class': 'cbi-section', id: 'cbi-%s-%s'.format(this.map.config, this.section) },
				this.renderHeader().concat(this.cfgsections().length ? [
					E('div', { 'class': 'cbi-section-node' }, this.renderOptions(this.section)) ] : []));
		}
	});
	var TypedSection = AbstractSection.extend({
		__init__: function(map, type, title, description) {
			AbstractSection.prototype.__init__.call(this, map, title, description);
			this.sectiontype = type;
		},
		cfgsections: function() {
			return uci.sections(this.map.config, this.sectiontype).map(function(s) { return s['.name']; });
		},
		handleAdd: function() {
			this.map.save();
			uci.add(this.map.config, this.sectiontype);
			this.rerender();
		},
		handleRemove: function(sid) {
			this.map.save();
			uci.remove(this.map.config, sid);
			this.rerender();
		},
		rerender: function() { var old = this.node; old.parentNode.replaceChild(this.render(), old); },
		renderAdd: function() {
			return this.addremove ? E('div', { 'class': 'cbi-section-create' }, [
				E('button', { 'class': 'cbi-button cbi-button-add', type: 'button', click: this.handleAdd.bind(this) }, [ _('Add') ]) ]) : '';
		},
		render: function() {
			this.node = E('div', { 'class': 'cbi-section', id: 'cbi-%s-%s'.format(this.map.config, this.sectiontype) },
				this.renderHeader().concat(this.cfgsections().map(function(sid) {
					return E('div', { 'class': 'cbi-section-node', 'data-section-id': sid }, this.renderOptions(sid));
				}, this), [ this.renderAdd() ]));
			return this.node;
		}
	});
	var TableSection = TypedSection.extend({
		render: function() {
			var sids = this.cfgsections();
			var head = E('tr', { 'class': 'tr cbi-section-table-titles' }, this.children.map(function(o) {
				return E('th', { 'class': 'th' }, [ o.title ]);
			}).concat(this.addremove ? [ E('th', { 'class': 'th' }) ] : []));
			var rows = sids.map(function(sid) {
				return E('tr', { 'class': 'tr cbi-section-table-row', 'data-sid': sid }, this.children.map(function(o) {
					return E('td', { 'class': 'td cbi-value-field', 'data-title': o.title }, [ o.render(sid) ]);
				}).concat(this.addremove ? [ E('td', { 'class': 'td cbi-section-table-cell' }, [
					E('button', { 'class': 'cbi-button cbi-button-remove', type: 'button', click: this.handleRemove.bind(this, sid) }, [ _('Delete') ]) ]) ] : []));
			}, this);
			if (!rows.length)
				rows = [ E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', colspan: this.children.length + 1 }, [ E('em', {}, [ _('This section contains no values yet') ]) ]) ]) ];
			this.node = E('div', { 'class': 'cbi-section cbi-tblsection', id: 'cbi-%s-%s'.format(this.map.config, this.sectiontype) },
				this.renderHeader().concat([ E('table', { 'class': 'table cbi-section-table' }, [ head ].concat(rows)), this.renderAdd() ]));
			return this.node;
		}
	});
	var CBIMap = Class.extend({
		__init__: function(config, title, description) {
			this.config = config; this.title = title || ''; this.description = description || '';
			this.children = [];
		},
		section: function(cls) {
			var s = cls.instantiate([ this ].concat(Array.prototype.slice.call(arguments, 1)));
			this.children.push(s);
			return s;
		},
		load: function() { return uci.load(this.config); },
		save: function() {
			this.children.forEach(function(s) { s.parse(); });
			return Promise.resolve();
		},
		render: function() {
			return this.load().then(L.bind(function() {
				var node = E('div', { 'class': 'cbi-map', id: 'cbi-' + this.config }, [
					this.title ? E('h2', {}, [ this.title ]) : '',
					this.description ? E('div', { 'class': 'cbi-map-descr' }, [ this.description ]) : ''
				].concat(this.children.map(function(s) { return s.render(); })));
				node.__cbiMap = this;
				return node;
			}, this));
		}
	});
	var form = Class.extend({
		Map: CBIMap, NamedSection: NamedSection, TypedSection: TypedSection, TableSection: TableSection,
		Value: Value, Flag: Flag, ListValue: ListValue, DynamicList: DynamicList, MultiValue: MultiValue
	});

	/* ---- luci.js: view ---- */
	var view = Class.extend({
		__init__: function() {
			var vp = document.getElementById('view');
			dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
			return Promise.resolve(this.load())
				.then(L.bind(this.render, this))
				.then(L.bind(function(nodes) {
					dom.content(vp, nodes);
					dom.append(vp, this.addFooter());
					H.rendered = true;
				}, this)).catch(function(err) { H.renderError = String(err && err.stack || err); console.error(err); });
		},
		load: function() {},
		render: function() {},
		handleSave: function() {
			return Promise.all(Array.prototype.map.call(document.querySelectorAll('#maincontent .cbi-map'), function(m) {
				return m.__cbiMap.save();
			}));
		},
		handleSaveApply: function(ev) {
			return this.handleSave(ev).then(function() { return L.ui.changes.apply(true); });
		},
		handleReset: function() {},
		addFooter: function() {
			return E('div', { 'class': 'cbi-page-actions' }, [
				E('button', { 'class': 'cbi-button cbi-button-apply', type: 'button', click: L.bind(this.handleSaveApply, this) }, [ _('Save & Apply') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-save', type: 'button', click: L.bind(this.handleSave, this) }, [ _('Save') ]), ' ',
				E('button', { 'class': 'cbi-button cbi-button-reset', type: 'button', click: L.bind(this.handleReset, this) }, [ _('Reset') ])
			]);
		}
	});

	var classes = {
		view: new (Class.extend({ extend: function(p) { return view.extend(p); } }))(),
		form: new form(), rpc: new rpc(), poll: new poll(), ui: new ui(), uci: uci
	};

	var L = {
		env: { base_url: '/luci-static/resources' },
		Class: Class, dom: dom, ui: classes.ui,
		bind: function(fn, self) {
			return Function.prototype.bind.apply(fn, [ self ].concat(Array.prototype.slice.call(arguments, 2)));
		},
		tr: tr,
		/* luci.js require(): fetch the class file, turn its leading
		 * 'require x' strings into parameters, evaluate the file as the body
		 * of a function, instantiate what it returns. */
		require: function(name) {
			if (classes[name])
				return Promise.resolve(classes[name]);
			var url = '%s/%s.js'.format(L.env.base_url, name.replace(/\./g, '/'));
			return fetch(url).then(function(res) {
				if (!res.ok)
					throw new Error('HTTP error %d while loading class file "%s"'.format(res.status, url));
				return res.text();
			}).then(function(source) {
				var deps = [], args = [], re = /^\s*(?:'([^']*)'|"([^"]*)");?/, m, rest = source;
				while ((m = re.exec(rest)) != null) {
					var s = m[1] != null ? m[1] : m[2], r = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(s);
					if (r) {
						deps.push(L.require(r[1]));
						args.push(r[2] || r[1].replace(/[^a-zA-Z0-9_]/g, '_'));
					}
					else if (!/^use[ \t]+strict$/.test(s))
						break;
					rest = rest.slice(m[0].length);
				}
				return Promise.all(deps).then(function(instances) {
					var factory = new Function([ 'window', 'document', 'L' ].concat(args).join(', '),
						source + '\n//# sourceURL=' + url);
					var cls = factory.apply(factory, [ window, document, L ].concat(instances));
					return (classes[name] = new cls());
				});
			});
		}
	};

	H.uci = uci;
	window.L = L;
	window.E = E;
	window._ = tr;
})(window, document);
