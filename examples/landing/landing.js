// The sign-up form: POST /v1/tenants with Prefer: respond-async, follow the
// Location until the tenant is RUNNING (or FAILED), then link to its URL.
// It talks to the launcher from its own origin, so the launcher runs with
// --cors-origin set to this page's origin. No token here: a browser never
// holds the launcher's token (see docs/landing.md).
'use strict';

const launcher = new URLSearchParams(location.search).get('launcher') || window.BERTH_LAUNCHER_URL;
const fields = ['subdomain', 'admin_email', 'company_name'];
const $ = (id) => document.getElementById(id);
let timer = null;

function say(text, failed) {
  $('status').textContent = text;
  $('status').className = failed ? 'failed' : '';
}

function clearErrors() {
  for (const f of fields) {
    $(f + '-error').textContent = '';
    $(f).removeAttribute('aria-invalid');
  }
}

function fieldError(field, message) {
  const f = fields.includes(field) ? field : 'subdomain';
  $(f + '-error').textContent = message;
  $(f).setAttribute('aria-invalid', 'true');
  $(f).focus();
}

function elapsed(t0) {
  return ((performance.now() - t0) / 1000).toFixed(1) + ' s';
}

function done() {
  clearInterval(timer);
  timer = null;
  $('submit').disabled = false;
}

// What the launcher's error answers mean to someone signing up.
function explain(status, body, retryAfter) {
  const e = (body && body.error) || {};
  if (status === 400) return { field: e.field, text: e.message || 'Please check this field.' };
  if (status === 409) return { field: e.field || 'subdomain', text: 'That subdomain is taken. Please choose another one.' };
  if (status === 429) return { text: 'Too many sign-ups at once right now. Please try again in ' + (retryAfter || 'a few') + ' seconds.' };
  if (status === 503) return { text: 'We are busy starting other workspaces. Please try again in ' + (retryAfter || 'a few') + ' seconds.' };
  if (status === 504) return { text: 'Your workspace took too long to start. Please try again; if it keeps happening, contact us.' };
  if (status === 401 || status === 403) return { text: 'This page may not start workspaces (the launcher refused it).' };
  return { text: 'Something went wrong (' + (e.message || 'HTTP ' + status) + '). Please try again.' };
}

async function readJson(r) {
  try { return await r.json(); } catch (e) { return null; }
}

function showLink(t, t0) {
  done();
  say('Your workspace is ready (' + elapsed(t0) + ').');
  const a = document.createElement('a');
  a.href = t.url;
  a.id = 'tenant-link';
  a.textContent = t.url;
  $('result').replaceChildren('Open it at ', a);
  a.focus();
}

async function follow(where, t0) {
  const url = new URL(where, launcher).href;
  for (;;) {
    const r = await fetch(url);
    const t = await readJson(r);
    if (!r.ok) throw Object.assign(new Error('status'), { status: r.status, body: t, retry: r.headers.get('Retry-After') });
    if (t.status === 'RUNNING' && t.url) return showLink(t, t0);
    if (t.status === 'FAILED' || t.status === 'STOPPED') {
      done();
      say('Your workspace could not start: ' + (t.error || t.status) + '. Please try again.', true);
      return;
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

$('signup').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  $('result').replaceChildren();
  const body = {};
  for (const f of fields) body[f] = $(f).value.trim();
  const t0 = performance.now();
  $('submit').disabled = true;
  say('Starting your workspace… 0.0 s');
  timer = setInterval(() => say('Starting your workspace… ' + elapsed(t0)), 100);
  try {
    const r = await fetch(new URL('/v1/tenants', launcher), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Prefer: 'respond-async' },
      body: JSON.stringify(body),
    });
    const t = await readJson(r);
    if (r.status === 201 || (r.status === 200 && t && t.status === 'RUNNING')) return showLink(t, t0);
    if (r.status === 202 || r.status === 200) return await follow(r.headers.get('Location') || '/v1/tenants/' + body.subdomain, t0);
    throw Object.assign(new Error('status'), { status: r.status, body: t, retry: r.headers.get('Retry-After') });
  } catch (e) {
    done();
    if (e.status === undefined) {
      say('The sign-up service could not be reached. Please try again.', true);
      return;
    }
    const x = explain(e.status, e.body, e.retry);
    say(x.text, true);
    if (x.field) fieldError(x.field, x.text);
  }
});
