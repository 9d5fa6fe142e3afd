'use strict';
'require baseclass';
'require dom';

/*
 * A table whose rows are keyed: update() changes the text of the cells that
 * changed, adds and removes rows, and leaves every other node alone. A cell is
 * a string, or { sig, node } when it holds more than text (sig says when the
 * node must be rebuilt).
 */
var LiveTable = baseclass.extend({
	__init__: function(name, headers, empty) {
		this.headers = headers;
		this.rows = {};
		this.placeholder = E('tr', { 'class': 'tr placeholder' }, [
			E('td', { 'class': 'td', 'colspan': headers.length }, [ E('em', [ empty ]) ])
		]);
		this.titles = E('tr', { 'class': 'tr table-titles' }, headers.map(function(h) {
			return E('th', { 'class': 'th' }, [ h ]);
		}));
		this.node = E('table', { 'class': 'table', 'data-table': name }, [ this.titles, this.placeholder ]);
	},

	update: function(rows) {
		var seen = {}, prev = this.titles;

		rows.forEach(L.bind(function(row) {
			var tr = this.rows[row.key];

			if (!tr) {
				tr = this.rows[row.key] = E('tr', { 'class': 'tr', 'data-key': row.key }, this.headers.map(function(h) {
					return E('td', { 'class': 'td', 'data-title': h });
				}));
			}

			row.cells.forEach(function(cell, i) {
				var td = tr.childNodes[i], sig = (typeof(cell) == 'object') ? cell.sig : String(cell);

				if (td.getAttribute('data-sig') === sig)
					return;

				td.setAttribute('data-sig', sig);
				dom.content(td, (typeof(cell) == 'object') ? cell.node() : sig);
			});

			if (prev.nextSibling !== tr)
				this.node.insertBefore(tr, prev.nextSibling);

			prev = tr;
			seen[row.key] = true;
		}, this));

		for (var key in this.rows) {
			if (!seen[key]) {
				this.rows[key].remove();
				delete this.rows[key];
			}
		}

		if (rows.length)
			this.placeholder.remove();
		else
			this.node.appendChild(this.placeholder);
	}
});

return baseclass.extend({
	LiveTable: LiveTable
});
