#!/usr/bin/env node
/*
 * Drives Network → VPN Passthrough on the kit's real LuCI in headless Chromium,
 * as a person would, and prints what it saw as JSON on stdout. Run it inside
 * the userland's network namespace (LuCI listens on that 127.0.0.1).
 *
 *   node luci_page.js BASE_URL ARTIFACT_DIR
 *
 * Steps: log in; render the page (every /ubus reply recorded); PPTP switch off
 * + Save & Apply; "Turn off now" for L2TP; a client (name + MAC) added + Save &
 * Apply; Diagnose; the page again with Accept-Language: ja. Screenshots in
 * ARTIFACT_DIR.
 *
 *   node luci_page.js BASE_URL ARTIFACT_DIR scale
 *
 * With many clients in the file: how long the page takes to render, which
 * calls two polls make, and whether a poll rebuilds rows it already shows.
 * The Python test (tests/openwrt/test_luci_page.py) checks the file and the
 * kernel afterwards.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [ base, artifacts, mode ] = process.argv.slice(2);
const PAGE = base + '/cgi-bin/luci/admin/network/vpn-passthrough';
const CLIENT = { name: 'Kids tablet', mac: '02:00:00:00:aa:01' };
const out = { rpc: [], failedRpc: [], httpErrors: [], pageErrors: [], console: [], steps: {}, fatal: null };

function watch(page) {
	page.on('pageerror', (e) => out.pageErrors.push(String(e)));
	page.on('console', (m) => { if (m.type() == 'error') out.console.push(m.text()); });
	page.on('response', async (res) => {
		if (res.status() >= 400)
			out.httpErrors.push(res.status() + ' ' + res.url());
		if (!res.url().includes('/ubus'))
			return;
		let calls = [], replies = [];
		try {
			calls = [].concat(JSON.parse(res.request().postData() || '[]'));
			replies = [].concat(await res.json());
		}
		catch (e) {
			/* a reply still in flight when the test itself reloads the page */
			if (!/navigated away/.test(String(e)))
				out.failedRpc.push({ url: res.url(), status: res.status(), error: String(e) });
			return;
		}
		calls.forEach((c, i) => {
			const r = replies.find((x) => x && x.id == c.id) || replies[i] || {};
			if (c.method != 'call')
				return;   /* 'list': LuCI probing which objects exist */
			const name = (c.params || []).slice(1, 3).join('.');
			const code = r.error ? 'error' : (r.result || [])[0];
			out.rpc.push({ call: name, args: (c.params || [])[3], code, at: Date.now() });
			if (res.status() != 200 || r.error || code !== 0)
				out.failedRpc.push({ call: name, args: (c.params || [])[3], status: res.status(), error: r.error || null, code });
		});
	});
}

/* textContent: the theme shows labels in capitals (CSS), the text is the translation */
const badge = (page, proto) => page.locator(`[data-protocol=${proto}]`).textContent();

async function openPage(page) {
	await page.goto(PAGE, { waitUntil: 'domcontentloaded', timeout: 60000 });
	await page.waitForSelector('#vpnpt-live tr[data-key=pptp] [data-protocol=pptp]', { timeout: 60000 });
	await page.waitForSelector('#cbi-vpn-passthrough-client', { timeout: 60000 });
}

async function saveAndApply(page) {
	await page.locator('.cbi-page-actions').getByText('Save & Apply', { exact: true }).first().click();
	await page.getByText('Configuration changes applied.').waitFor({ timeout: 90000 });
	await page.waitForTimeout(2000);
}

/* The page again until the badge says what the kernel was told (procd's reload
 * trigger applies asynchronously). */
async function waitBadge(page, proto, want) {
	for (let i = 0; i < 30; i++) {
		if (await badge(page, proto) == want)
			return want;
		await page.waitForTimeout(1000);
		if (i % 10 == 9)
			await openPage(page);
	}
	return badge(page, proto);
}

/* A fresh browser profile with LOCALE (Chromium sends it as Accept-Language), logged in. */
async function session(profiles, contexts, locale) {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vpt-chromium-'));
	profiles.push(profile);
	const ctx = await chromium.launchPersistentContext(profile, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		locale,
		viewport: { width: 1280, height: 900 },
		args: [ '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		        '--disable-background-networking', '--disable-component-update', '--disable-sync' ]
	});
	contexts.push(ctx);
	/* One LuCI (ucode) request at a time. Measured on the kit's uhttpd (-O uhttpd.uc,
	 * as OpenWrt starts it): of four parallel requests to /cgi-bin/luci, the second
	 * answered after 30 s and the others with 502 after 60 s; one after another they
	 * answer in milliseconds. A page needs two at once (the menu and the
	 * translations), so the browser's are queued here; /ubus and files are not. */
	let queue = Promise.resolve();
	await ctx.route(/\/cgi-bin\/luci(\/|$|\?)/, (route) => {
		queue = queue.then(async () => {
			try {
				await route.fulfill({ response: await route.fetch({ maxRedirects: 0 }) });
			}
			catch (e) {
				await route.abort().catch(() => {});
			}
		});
		return queue;
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	page.setDefaultTimeout(60000);
	await page.setExtraHTTPHeaders({ 'Accept-Language': locale });
	await page.goto(base + '/cgi-bin/luci/');
	await page.locator('input[name=luci_username]').fill('root');
	await page.locator('input[name=luci_password]').fill('rigpass');
	await Promise.all([ page.waitForNavigation(), page.locator('input[name=luci_password]').press('Enter') ]);
	return page;
}

(async () => {
	fs.mkdirSync(artifacts, { recursive: true });
	const profiles = [];
	const contexts = [];
	try {
		const page = await session(profiles, contexts, 'en');
		watch(page);

		if (mode == 'scale') {
			out.rpc = [];
			const t0 = Date.now();
			await openPage(page);
			await page.waitForSelector('#cbi-vpn-passthrough-client .cbi-section-table-row[data-sid]');
			out.steps.scale = {
				renderMs: Date.now() - t0,
				formRows: await page.locator('#cbi-vpn-passthrough-client .cbi-section-table-row[data-sid]').count(),
				pager: await page.locator('[data-pager=clients]').innerText()
			};
			/* mark the rows on screen; a poll that rebuilt them would lose the marks */
			await page.evaluate(() => document.querySelectorAll('#vpnpt-live tr[data-key]').forEach((tr) => tr.vptMark = 1));
			const since = Date.now();
			await page.waitForTimeout(11000);
			out.steps.scale.pollCalls = out.rpc.filter((c) => c.at >= since).map((c) => ({ call: c.call, args: c.args }));
			out.steps.scale.rowsKept = await page.evaluate(() =>
				Array.from(document.querySelectorAll('#vpnpt-live tr[data-key]')).every((tr) => tr.vptMark === 1));
			out.steps.scale.liveRows = await page.locator('#vpnpt-live tr[data-key]').count();
			/* the next page of the client table */
			await page.locator('[data-pager=clients] button').last().click();
			await page.locator('[data-pager=clients]', { hasText: '51-100' }).waitFor();
			out.steps.scale.secondPage = await page.locator('#cbi-vpn-passthrough-client td[data-name=name] input').first().inputValue();
			await page.screenshot({ path: path.join(artifacts, 'luci-page-1000-clients.png'), fullPage: true });
			return;
		}

		/* only this page counts: LuCI answers the login page itself with 403, and
		 * the landing page's own calls are not ours */
		out.httpErrors = [];
		out.console = [];
		out.rpc = [];
		out.failedRpc = [];
		await openPage(page);
		await page.waitForTimeout(6000);   /* one 5-s poll, so its calls are recorded too */
		out.steps.rendered = {
			title: await page.locator('#cbi-vpn-passthrough > h2').innerText(),
			badges: { pptp: await badge(page, 'pptp'), l2tp: await badge(page, 'l2tp'), ipsec: await badge(page, 'ipsec') },
			findings: await page.locator('[data-finding]').evaluateAll((n) => n.map((x) => x.getAttribute('data-finding')))
		};
		await page.screenshot({ path: path.join(artifacts, 'luci-page-en.png'), fullPage: true });

		/* 1. a switch + Save & Apply */
		await page.locator('.cbi-value[data-name=pptp_enabled] input[type=checkbox]').uncheck();
		await saveAndApply(page);
		out.steps.switchApplied = { pptp: await waitBadge(page, 'pptp', 'Blocked') };

		/* 2. the live "Turn off now" button */
		await page.locator('button[data-switch=l2tp]').click();
		await page.locator('.modal button.cbi-button-action').click();
		out.steps.turnedOff = { l2tp: await waitBadge(page, 'l2tp', 'Blocked') };
		out.steps.turnedOff.flagAfter = await page.locator('.cbi-value[data-name=l2tp_enabled] input[type=checkbox]').isChecked();
		await page.screenshot({ path: path.join(artifacts, 'luci-page-switched.png'), fullPage: true });

		/* 3. a client, name + MAC, Save & Apply */
		const section = page.locator('#cbi-vpn-passthrough-client');
		await section.locator('.cbi-section-create .cbi-button-add').click();
		const row = section.locator('.cbi-section-table-row:not(.placeholder)').last();
		await row.locator('td[data-name=name] input').fill(CLIENT.name);
		/* the MAC list offers the router's known hosts; a new one goes in "-- custom --" */
		const macs = row.locator('td[data-name=mac]');
		await macs.locator('.cbi-dropdown').first().click();
		const custom = macs.locator('input.create-item-input').first();
		await custom.fill(CLIENT.mac);
		await custom.press('Enter');
		await row.locator('td[data-name=name] input').click();
		await saveAndApply(page);
		out.steps.clientAdded = CLIENT;
		await page.screenshot({ path: path.join(artifacts, 'luci-page-client.png'), fullPage: true });

		/* 4. Diagnose a device picked from the list */
		await page.locator('#vpnpt-diagnose-run').click();
		await page.waitForFunction(() => {
			const r = document.querySelector('#vpnpt-diagnose-result');
			return r && r.textContent && !r.querySelector('.spinning');
		});
		out.steps.diagnosed = {
			host: await page.locator('#vpnpt-diagnose-host').inputValue(),
			verdicts: await page.locator('#vpnpt-diagnose-result tr[data-verdict]').count(),
			text: await page.locator('#vpnpt-diagnose-result').innerText()
		};
		await page.locator('#vpnpt-diagnose').screenshot({ path: path.join(artifacts, 'luci-page-diagnose.png') });

		/* 5. Japanese */
		const ja = await session(profiles, contexts, 'ja');
		watch(ja);
		await openPage(ja);
		await ja.waitForTimeout(1500);
		out.steps.japanese = {
			lang: await ja.locator('html').getAttribute('lang'),
			title: await ja.locator('#cbi-vpn-passthrough > h2').innerText(),
			live: await ja.locator('#vpnpt-live').innerText(),
			diagnose: await ja.locator('#vpnpt-diagnose').innerText(),
			settings: await ja.locator('#cbi-vpn-passthrough').innerText()
		};
		await ja.screenshot({ path: path.join(artifacts, 'luci-page-ja.png'), fullPage: true });

		/* The verdicts as the Japanese page shows them: a reply of the diagnose
		 * contract (CANNED here, the installed service may not diagnose yet) given to
		 * the page's own module in real LuCI. */
		out.steps.japaneseVerdicts = await ja.evaluate(() => L.require('vpn-passthrough.diagnose').then((d) => {
			d.show('02:00:00:00:aa:01', { host: '02:00:00:00:aa:01', name: null, watched: 3, verdicts: [
				{ protocol: 'pptp', verdict: 'blocked_switch', severity: 'error',
				  evidence: [ 'pptp passthrough is off and no client rule allows this device', 'pptp_blocked counter (all devices): 3 packets' ],
				  fix: "uci set vpn-passthrough.pptp.enabled='1'; uci commit vpn-passthrough (or add a client section with action 'allow' for this device)" },
				{ protocol: 'ipsec', verdict: 'esp_without_natt', severity: 'warning', evidence: [ 'esp 192.168.1.10 -> 198.51.100.7' ], fix: 'enable NAT-T' },
				{ protocol: 'all', verdict: 'limited_view', severity: 'info', evidence: [ 'conntrack accounting is off' ], fix: 'sysctl -w net.netfilter.nf_conntrack_acct=1' } ] });
			return document.querySelector('#vpnpt-diagnose-result').innerText;
		}));
		await ja.locator('#vpnpt-diagnose').screenshot({ path: path.join(artifacts, 'luci-page-ja-diagnose.png') });
	}
	catch (e) {
		out.fatal = String(e && e.stack || e);
		for (const ctx of contexts)
			for (const p of ctx.pages())
				await p.screenshot({ path: path.join(artifacts, 'luci-page-failure.png'), fullPage: true }).catch(() => {});
	}
	finally {
		for (const ctx of contexts)
			await ctx.close();
		for (const profile of profiles)
			fs.rmSync(profile, { recursive: true, force: true });
		process.stdout.write(JSON.stringify(out) + '\n');
	}
})();
