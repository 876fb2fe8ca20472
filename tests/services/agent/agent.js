#!/usr/bin/env node
// An ECS agent introspection emulator for tests: serves GET /, /v1/metadata
// and /v1/tasks (also ?dockerid= and ?taskarn=) from a real dockerd's state,
// in the agent's formats (see shared/reference/WIRE.md a. and the agent-*
// fixtures). Only Node built-in modules.
//
//   node agent.js --port PORT --docker-host unix:///path/docker.sock
//                 [--cluster NAME] [--docker-id-key DockerId|DockerID] [--instance-arn ARN]
//
// Listens on 127.0.0.1 only and prints "listening 127.0.0.1:PORT" when ready.
// Containers are the ones carrying com.amazonaws.ecs.task-arn; those whose
// container-name starts with ~internal~ are left out, like the agent does.
// Ports come from Docker's list: one entry per Docker binding (so 0.0.0.0
// and :: give two identical entries, HostIp dropped), HostPort left out
// until the container runs.
'use strict';

const http = require('http');

function parseArgs(argv) {
  const o = { port: 0, dockerHost: process.env.DOCKER_HOST || '', cluster: 'default',
    idKey: 'DockerId' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--port') { o.port = Number(v); i++; }
    else if (a === '--docker-host') { o.dockerHost = v; i++; }
    else if (a === '--cluster') { o.cluster = v; i++; }
    else if (a === '--docker-id-key') { o.idKey = v; i++; }
    else if (a === '--instance-arn') { o.instanceArn = v; i++; }
    else { throw new Error(`unknown argument ${a}`); }
  }
  if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) throw new Error('--port PORT');
  if (!o.dockerHost.startsWith('unix://')) throw new Error('--docker-host unix:///path');
  if (o.idKey !== 'DockerId' && o.idKey !== 'DockerID') throw new Error('--docker-id-key');
  return o;
}

const opts = parseArgs(process.argv);
const socketPath = opts.dockerHost.slice('unix://'.length);
const BODY_MAX = 16 * 1024 * 1024;
const LABEL = 'com.amazonaws.ecs.';
const instanceArn = opts.instanceArn ||
  `arn:aws:ecs:us-east-1:123456789012:container-instance/${opts.cluster}/6d1f4ee3b2c54b4fa6b5d3e8c9a01234`;

function docker(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', timeout: 5000 }, (res) => {
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        if (n > BODY_MAX) { req.destroy(new Error('docker body too large')); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`docker ${path}: ${res.statusCode} ${text}`));
          return;
        }
        try { resolve(JSON.parse(text)); } catch (e) { reject(e); }
      });
    });
    req.on('timeout', () => req.destroy(new Error('docker timeout')));
    req.on('error', reject);
    req.end();
  });
}

// Go's BackendStatus(): only PENDING, RUNNING or STOPPED.
function containerStatus(state) {
  if (state === 'running' || state === 'paused' || state === 'restarting') return 'RUNNING';
  if (state === 'created') return 'PENDING';
  return 'STOPPED';
}

function containerResponse(c) {
  const labels = c.Labels || {};
  const out = {};
  out[opts.idKey] = c.Id;
  out.DockerName = (c.Names && c.Names[0] || '').replace(/^\//, '');
  out.Name = labels[`${LABEL}container-name`] || '';
  out.Image = c.Image || '';
  out.ImageID = c.ImageID || '';
  if (c.Created) out.CreatedAt = new Date(c.Created * 1000).toISOString();
  const ports = [];
  for (const p of c.Ports || []) {
    const e = { ContainerPort: p.PrivatePort, Protocol: p.Type };
    if (c.State === 'running' && p.PublicPort) e.HostPort = p.PublicPort; // omitempty
    ports.push(e);
  }
  if (ports.length > 0) out.Ports = ports; // omitempty
  return out;
}

async function tasks() {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL}task-arn`] }));
  const list = await docker(`/containers/json?all=1&filters=${filters}`);
  const byArn = new Map();
  for (const c of list) {
    const labels = c.Labels || {};
    const arn = labels[`${LABEL}task-arn`];
    const name = labels[`${LABEL}container-name`] || '';
    if (!arn) continue;
    let t = byArn.get(arn);
    if (!t) {
      t = { arn, family: labels[`${LABEL}task-definition-family`] || '',
        version: labels[`${LABEL}task-definition-version`] || '', containers: [], states: [] };
      byArn.set(arn, t);
    }
    t.states.push(containerStatus(c.State));
    if (name.startsWith('~internal~')) continue; // internal containers are left out
    t.containers.push(containerResponse(c));
  }
  const out = [];
  for (const t of byArn.values()) {
    let known = 'STOPPED';
    if (t.states.includes('RUNNING')) known = 'RUNNING';
    else if (t.states.includes('PENDING')) known = 'PENDING';
    const task = { Arn: t.arn };
    // DesiredStatus is omitempty; left out for known=RUNNING with desired=PENDING.
    task.DesiredStatus = known === 'STOPPED' ? 'STOPPED' : 'RUNNING';
    task.KnownStatus = known;
    task.Family = t.family;
    task.Version = t.version;
    task.Containers = t.containers;
    out.push(task);
  }
  return out;
}

const EMPTY_TASK = { Arn: '', KnownStatus: '', Family: '', Version: '', Containers: null };

function send(res, code, body) {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method !== 'GET') { send(res, 405, EMPTY_TASK); return; }
  if (url.pathname === '/') {
    send(res, 200, { AvailableCommands: ['/v1/metadata', '/v1/tasks', '/license'] });
    return;
  }
  if (url.pathname === '/v1/metadata') {
    send(res, 200, { Cluster: opts.cluster, ContainerInstanceArn: instanceArn,
      Version: 'Amazon ECS Agent - v1.105.1 (emulator)' });
    return;
  }
  if (url.pathname !== '/v1/tasks') { send(res, 404, EMPTY_TASK); return; }
  const dockerid = url.searchParams.get('dockerid');
  const taskarn = url.searchParams.get('taskarn');
  const all = await tasks();
  if (dockerid === null && taskarn === null) { send(res, 200, { Tasks: all }); return; }
  if (dockerid !== null && taskarn !== null) { send(res, 400, EMPTY_TASK); return; }
  if (taskarn !== null) {
    const t = all.find((x) => x.Arn === taskarn);
    send(res, t ? 200 : 404, t || EMPTY_TASK);
    return;
  }
  // A full ID, or at most 12 characters matched as a short ID (400 when ambiguous).
  const match = (id) => (dockerid.length <= 12 ? id.startsWith(dockerid) : id === dockerid);
  const found = all.filter((t) => t.Containers.some((c) => match(c[opts.idKey])));
  if (found.length > 1) { send(res, 400, EMPTY_TASK); return; }
  send(res, found.length ? 200 : 404, found.length ? found[0] : EMPTY_TASK);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`agent-emulator error: ${e.message}\n`);
    send(res, 500, EMPTY_TASK);
  });
});
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening 127.0.0.1:${opts.port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
