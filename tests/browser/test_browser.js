#!/usr/bin/env node
// The browser side in a real browser: Debian's chromium, headless, driven by
// puppeteer-core (tests/services' lockfile; nothing downloads a browser).
// Starts berth-sidecar and berth-launcher (docker backend) on the test
// dockerd, serves examples/landing from its own origin, then:
//   - the landing page signs up a tenant; its link serves the tenant's page;
//   - a bad subdomain shows the launcher's message next to the field, no link;
//   - the page served from an origin the launcher does not allow is refused
//     by the browser's CORS check;
//   - the sidecar's /ui shows a container started with `docker run` without a
//     reload, and its stop; a tenant named like markup shows as text.
// Screenshots of both pages go to the run's state directory.
'use strict';

const assert = require('assert');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const puppeteer = require(path.join(process.env.BERTH_SOURCE_DIR, 'tests/services/node_modules/puppeteer-core'));

const src = process.env.BERTH_SOURCE_DIR;
const bin = process.env.BERTH_BINARY_DIR;
const dockerHost = process.env.BERTH_TEST_DOCKER_HOST;
if (!src || !bin || !dockerHost) {
  console.error('test_browser: run under ./dev test (BERTH_SOURCE_DIR, BERTH_BINARY_DIR, BERTH_TEST_DOCKER_HOST)');
  process.exit(1);
}
const state = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'berth-test-browser-'));
const procs = [];
const tag = 'b' + (process.pid % 100000);

function freePort() {
  return new Promise((res) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

function start(name, args) {
  const log = fs.openSync(path.join(state, name + '.log'), 'a');
  const p = spawn(args[0], args.slice(1), { stdio: ['ignore', log, log] });
  procs.push(p);
  return p;
}

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if ((await fetch(url)).ok) return; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(url + ' did not answer');
}

function docker(...args) {
  return execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: dockerHost } }).toString().trim();
}

// The landing page's files, config.js naming the launcher: the page's own origin.
function serveLanding(port, launcherUrl) {
  const dir = path.join(src, 'examples/landing');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/config.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end('window.BERTH_LAUNCHER_URL = ' + JSON.stringify(launcherUrl) + ';\n');
      return;
    }
    const f = path.join(dir, path.basename(u.pathname === '/' ? 'index.html' : u.pathname));
    if (!fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': types[path.extname(f)] || 'application/octet-stream' });
    fs.createReadStream(f).pipe(res);
  });
  return new Promise((r) => srv.listen(port, '127.0.0.1', () => r(srv)));
}

async function signUp(page, sub) {
  await page.type('#subdomain', sub);
  await page.type('#admin_email', 'ops@' + sub.replace(/[^a-z0-9]/g, '') + '.example');
  await page.type('#company_name', 'Browser Test');
  await page.click('#submit');
}

async function main() {
  const [sport, lport, oport, badport] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const db = path.join(state, 'registry.db');
  const origin = 'http://127.0.0.1:' + oport;
  const launcherUrl = 'http://127.0.0.1:' + lport;
  execFileSync(path.join(src, 'tests/services/tenant-image.sh'), [dockerHost], { stdio: 'ignore' });
  start('sidecar', [path.join(bin, 'sidecar/berth-sidecar'), '--db', db, '--docker-host', dockerHost,
    '--agent-url', 'none', '--host-ip', '127.0.0.1', '--imds-url', 'none', '--listen', '127.0.0.1:' + sport]);
  await waitHttp('http://127.0.0.1:' + sport + '/healthz', 20000);
  start('launcher', [path.join(bin, 'launcher/berth-launcher'), '--db', db, '--backend', 'docker',
    '--docker-host', dockerHost, '--image', 'berth-demo/tenant:latest', '--host-ip', '127.0.0.1',
    '--sidecar-url', 'http://127.0.0.1:' + sport, '--listen', '127.0.0.1:' + lport,
    '--cors-origin', origin, '--rate-limit', '0']);
  await waitHttp(launcherUrl + '/healthz', 20000);
  const servers = [await serveLanding(oport, launcherUrl), await serveLanding(badport, launcherUrl)];

  const browser = await puppeteer.launch({
    executablePath: process.env.BERTH_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Tenant URLs name <sub>.127.0.0.1.sslip.io: resolved here, never by a DNS server.
    args: ['--no-sandbox', '--host-resolver-rules=MAP *.sslip.io 127.0.0.1', '--no-proxy-server'],
  });
  const dialogs = [];
  try {
    // 1. Sign up; the link serves the tenant's page.
    const page = await browser.newPage();
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    await page.setViewport({ width: 900, height: 760 });
    await page.goto(origin + '/');
    const sub = tag + '-web';
    const t0 = Date.now();
    await signUp(page, sub);
    await page.waitForSelector('#tenant-link', { timeout: 90000 });
    const took = Date.now() - t0;
    const href = await page.$eval('#tenant-link', (a) => a.href);
    console.log(`sign-up: submit -> link in ${took} ms: ${href}`);
    assert.match(href, new RegExp('^http://' + sub + '\\.127\\.0\\.0\\.1\\.sslip\\.io:\\d+/?$'));
    assert.ok((await page.$eval('#status', (e) => e.textContent)).includes('ready'));
    await page.screenshot({ path: path.join(state, 'landing.png') });
    const tenant = await browser.newPage();
    const resp = await tenant.goto(href);
    assert.strictEqual(resp.status(), 200);
    assert.ok((await tenant.content()).includes('Browser Test'), 'the tenant page names its company');
    await tenant.close();

    // 2. A bad subdomain: the launcher's message next to the field, no link.
    await page.goto(origin + '/');
    await signUp(page, 'Bad_Sub!');
    await page.waitForFunction(() => document.getElementById('subdomain-error').textContent !== '', { timeout: 20000 });
    const msg = await page.$eval('#subdomain-error', (e) => e.textContent);
    console.log(`bad subdomain: "${msg}"`);
    assert.ok(msg.length > 0);
    assert.strictEqual(await page.$eval('#subdomain', (e) => e.getAttribute('aria-invalid')), 'true');
    assert.strictEqual(await page.$('#tenant-link'), null);

    // 3. The same page from an origin the launcher does not allow: the browser refuses.
    const other = await browser.newPage();
    const corsErrors = [];
    other.on('console', (m) => { if (/CORS|Access-Control/i.test(m.text())) corsErrors.push(m.text()); });
    await other.goto('http://127.0.0.1:' + badport + '/');
    await signUp(other, tag + '-cors');
    await other.waitForFunction(() => document.getElementById('status').className === 'failed', { timeout: 20000 });
    console.log(`other origin: "${await other.$eval('#status', (e) => e.textContent)}"; console: ${corsErrors[0] || '(none)'}`);
    assert.ok(corsErrors.length > 0, 'chromium reports a CORS refusal');
    assert.strictEqual(await other.$('#tenant-link'), null);
    const lookup = await fetch(launcherUrl + '/v1/tenants/' + tag + '-cors');
    assert.strictEqual(lookup.status, 404, 'nothing was provisioned for the refused origin');
    await other.close();

    // 4. The dashboard: a container started with docker run shows up, then its stop.
    const ui = await browser.newPage();
    ui.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    await ui.setViewport({ width: 1200, height: 700 });
    await ui.goto('http://127.0.0.1:' + sport + '/ui');
    await ui.waitForFunction(() => document.getElementById('live').textContent === 'live', { timeout: 20000 });
    const evil = '<img src=x onerror=alert(1)>';
    const t1 = Date.now();
    const id = docker('run', '-d', '--name', 'berth-' + tag + '-ui', '-e', 'BERTH_TENANT=' + evil, '-p', '0:8000',
      'berth-test/busybox', 'sh', '-c', 'sleep 600');
    await ui.waitForSelector(`tr[data-container="${id}"]`, { timeout: 10000 });
    const seen = Date.now() - t1;
    console.log(`dashboard: docker run -> row shown in ${seen} ms (docker run itself included)`);
    const cellText = await ui.$eval(`tr[data-container="${id}"] td`, (td) => td.textContent);
    assert.strictEqual(cellText, evil, 'the tenant shows as text');
    assert.strictEqual(await ui.$('#bindings img'), null, 'no markup from the registry');
    await ui.screenshot({ path: path.join(state, 'dashboard.png') });
    const t2 = Date.now();
    docker('stop', '-t', '1', id);
    await ui.waitForSelector(`tr[data-container="${id}"][data-status="STOPPED"]`, { timeout: 10000 });
    console.log(`dashboard: docker stop -> STOPPED shown in ${Date.now() - t2} ms`);
    docker('rm', '-f', id);
    assert.deepStrictEqual(dialogs, [], 'no script ran from the registry');
  } finally {
    await browser.close();
    for (const s of servers) s.close();
  }
}

main().then(() => {
  cleanup(true);
  console.log('test_browser: ok');
}).catch((e) => {
  console.error('test_browser: FAIL: ' + (e.stack || e));
  cleanup(false);
  process.exitCode = 1;
});

function cleanup(ok) {
  for (const p of procs) try { p.kill('SIGTERM'); } catch (e) { /* gone */ }
  try {
    const ids = docker('ps', '-aq', '--filter', 'name=berth-' + tag).split('\n').filter(Boolean);
    if (ids.length) docker('rm', '-f', ...ids);
  } catch (e) { /* best effort */ }
  if (ok && !process.env.BERTH_KEEP_STATE) fs.rmSync(state, { recursive: true, force: true });
  else console.error('kept ' + state + ' (logs and screenshots)');
}
