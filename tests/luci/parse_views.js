#!/usr/bin/env node
/*
 * Parses every LuCI view the way luci.js loads it: the file's leading
 * 'require x' / 'require x as y' strings become parameters, the whole file is
 * the body of a function(window, document, L, ...) — compiled here by V8 (the
 * engine Chromium runs it with) through vm.compileFunction. Prints JSON:
 * { "<file>": { "requires": [...], "params": [...], "error": null | "..." } }.
 *
 * usage: node parse_views.js FILE...
 */
'use strict';

const fs = require('fs');
const vm = require('vm');

/* The same scan as luci.js compileClass(): quoted strings at the top of the
 * file, up to the first one that is neither 'use strict' nor 'require …'. */
function requires(source) {
	const out = [];
	const requirematch = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
	const strictmatch = /^use[ \t]+strict$/;
	for (let i = 0, off = -1, quote = -1, esc = false; i < source.length; i++) {
		const chr = source.charCodeAt(i);
		if (esc) {
			esc = false;
		}
		else if (chr == 92) {
			esc = true;
		}
		else if (chr == quote) {
			const s = source.substring(off, i), m = requirematch.exec(s);
			if (m)
				out.push({ name: m[1], as: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
			else if (!strictmatch.exec(s))
				break;
			off = -1;
			quote = -1;
		}
		else if (quote == -1 && (chr == 34 || chr == 39)) {
			off = i + 1;
			quote = chr;
		}
	}
	return out;
}

const result = {};
for (const file of process.argv.slice(2)) {
	const source = fs.readFileSync(file, 'utf8');
	const reqs = requires(source);
	const params = ['window', 'document', 'L'].concat(reqs.map((r) => r.as));
	let error = null;
	try {
		vm.compileFunction(source, params, { filename: file });
	}
	catch (e) {
		error = `${e.name}: ${e.message}`;
	}
	result[file] = { requires: reqs.map((r) => r.name), params, error };
}
process.stdout.write(JSON.stringify(result) + '\n');
