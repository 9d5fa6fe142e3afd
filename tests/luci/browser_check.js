#!/usr/bin/env node
/*
 * Renders the real LuCI view in headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core) inside the stand-in harness, then exercises it.
 * Serves the harness on 127.0.0.1 only. Prints one JSON object with what it saw;
 * tests/luci/test_luci_browser.py asserts on it.
 *
 * usage: node browser_check.js APPDIR LMO_DIR ARTIFACT_DIR
 */
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const os = require('os');

const [appDir, lmoDir, artifactDir] = process.argv.slice(2).map((p) => path.resolve(p));
const here = __dirname;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

const routes = [
	['/luci-static/resources/', path.join(appDir, 'htdocs/luci-static/resources')],
	['/harness/', path.join(here, 'harness')],
	['/fixtures/', path.join(here, 'fixtures')],
	['/i18n/', lmoDir]
];
const types = { '.js': 'text/javascript', '.html': 'text/html', '.css': 'text/css', '.json': 'application/json' };

function serve(req, res) {
	const url = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
	if (url.split('/').includes('..')) {
		res.writeHead(403);
		return res.end('forbidden');
	}
	let file = null;
	if (url === '/acl.json')
		file = path.join(appDir, 'root/usr/share/rpcd/acl.d/luci-app-vpn-passthrough.json');
	else if (url === '/')
		file = path.join(here, 'harness/index.html');
	for (const [prefix, dir] of routes)
		if (!file && url.startsWith(prefix))
			file = path.join(dir, url.slice(prefix.length));
	if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
		res.writeHead(404);
		return res.end('not found');
	}
	res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
	fs.createReadStream(file).pipe(res);
}

async function main() {
	const { chromium } = require('playwright-core');
	const server = http.createServer(serve);
	await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
	const base = `http://127.0.0.1:${server.address().port}`;
	const result = { console: [], pageErrors: [], failedRequests: [], fatal: null };

	// launch() gives the browser a fresh temporary profile (--user-data-dir).
	const browser = await chromium.launch({
		executablePath: chromiumPath,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync']
	});
	try {
		const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
		page.setDefaultTimeout(8000);
		page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') result.console.push(`${m.type()}: ${m.text()}`); });
		page.on('pageerror', (e) => result.pageErrors.push(String(e && e.stack || e)));
		page.on('requestfailed', (r) => result.failedRequests.push(r.url()));
		page.on('response', (r) => { if (r.status() >= 400) result.failedRequests.push(`${r.status()} ${r.url()}`); });

		const waitRendered = () => page.waitForFunction(
			() => window.__harness && (window.__harness.rendered || window.__harness.renderError), null, { timeout: 15000 });

		/* English */
		await page.goto(`${base}/`);
		await waitRendered();
		result.renderError = await page.evaluate(() => window.__harness.renderError || null);
		if (result.renderError)
			throw new Error('the view did not render');
		result.sessionRows = await page.$$eval('table.vpnpt-sessions tr.tr:not(.table-titles)',
			(rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)));
		result.protocolStates = await page.$$eval('[data-protocol]',
			(els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-protocol'), e.textContent])));
		result.findings = await page.$$eval('.vpnpt-finding', (els) => els.map((e) => e.textContent));
		result.clientRows = await page.$$eval('#cbi-vpn-passthrough-client tr.cbi-section-table-row', (rows) => rows.length);
		result.macChoices = await page.$$eval('datalist option', (os) => os.map((o) => o.value));
		result.pollEntries = await page.evaluate(() => window.__harness.pollQueue.map((e) => e.interval));
		fs.mkdirSync(artifactDir, { recursive: true });
		await page.screenshot({ path: path.join(artifactDir, 'luci.png'), fullPage: true });

		/* poll refresh: new canned sessions, one poll step, the table follows */
		await page.evaluate(() => {
			const H = window.__harness;
			H.replies['luci.vpn-passthrough.sessions'] = { sessions: [
				{ protocol: 'pptp', client: '192.168.1.77', server: '192.0.2.99', l4: 'tcp', sport: 41000, dport: 1723,
				  state: 'ESTABLISHED', timeout: 431000, age: 5, packets: 10, bytes: 900, helper: 'pptp' } ] };
			return H.pollStep();
		});
		result.sessionRowsAfterPoll = await page.$$eval('table.vpnpt-sessions tr.tr:not(.table-titles)',
			(rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)));

		/* "Apply rules again" calls reload */
		await page.click('.vpnpt-summary button');
		await page.waitForFunction(() => window.__harness.rpcCalls.some((c) => c.method === 'reload'));

		/* flip PPTP off and Save: the UCI change is vpn-passthrough.pptp.enabled=0 */
		await page.evaluate(() => { window.__harness.uciChanges.length = 0; });
		const pptp = page.locator('[id="cbid.vpn-passthrough.globals.pptp_enabled"]');
		result.pptpCheckedBefore = await pptp.isChecked();
		await pptp.click();
		await page.click('.cbi-page-actions .cbi-button-save');
		await page.waitForTimeout(100);
		result.uciChangesAfterSave = await page.evaluate(() => window.__harness.uciChanges.slice());
		await page.click('.cbi-page-actions .cbi-button-apply');
		await page.waitForFunction(() => window.__harness.applied > 0);
		result.applied = await page.evaluate(() => ({ n: window.__harness.applied, checked: window.__harness.appliedChecked }));
		result.rpcCalls = await page.evaluate(() => window.__harness.rpcCalls.map((c) => `${c.object}.${c.method}`));
		result.rpcDenied = await page.evaluate(() => window.__harness.notifications.slice());

		/* the service is down: the page still renders, says so, and logs no errors */
		const down = await browser.newPage({ viewport: { width: 1200, height: 900 } });
		down.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') result.console.push(`down ${m.type()}: ${m.text()}`); });
		down.on('pageerror', (e) => result.pageErrors.push('down: ' + String(e && e.stack || e)));
		await down.goto(`${base}/?down=1`);
		await down.waitForFunction(() => window.__harness && (window.__harness.rendered || window.__harness.renderError), null, { timeout: 15000 });
		result.downRenderError = await down.evaluate(() => window.__harness.renderError || null);
		result.downLive = await down.$eval('#vpnpt-live', (e) => e.innerText);
		result.downForm = await down.$$eval('[id="cbid.vpn-passthrough.globals.pptp_enabled"]', (els) => els.length);

		/* Japanese, with the catalog compiled from po/ja */
		const ja = await browser.newPage({ viewport: { width: 1200, height: 900 } });
		ja.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') result.console.push(`ja ${m.type()}: ${m.text()}`); });
		ja.on('pageerror', (e) => result.pageErrors.push('ja: ' + String(e && e.stack || e)));
		ja.on('response', (r) => { if (r.status() >= 400) result.failedRequests.push(`${r.status()} ${r.url()}`); });
		await ja.goto(`${base}/?lang=ja`);
		await ja.waitForFunction(() => window.__harness && (window.__harness.rendered || window.__harness.renderError), null, { timeout: 15000 });
		result.jaRenderError = await ja.evaluate(() => window.__harness.renderError || null);
		result.jaTitle = await ja.$eval('.vpnpt h2', (e) => e.textContent);
		result.jaText = await ja.$eval('#view', (e) => e.innerText);
		await ja.screenshot({ path: path.join(artifactDir, 'luci-ja.png'), fullPage: true });
	}
	catch (e) {
		result.fatal = String(e && e.stack || e);
	}
	finally {
		await browser.close();
		server.close();
	}
	process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
	process.stderr.write(String(e && e.stack || e) + '\n');
	process.exit(1);
});
