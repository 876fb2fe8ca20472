#!/usr/bin/env node
// Starts the ECS control-plane emulator and the metadata emulators on
// 127.0.0.1 (ephemeral ports unless given) and writes their URLs to
// STATE/ecs.url and STATE/metadata.url once listening.
//
//   node index.js --state DIR [--docker-host unix:///...] [--region R]
//                 [--access-key-id K --secret-access-key S] [--ecs-port N] [--metadata-port N]
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { Ecs } = require('./ecs');
const { Metadata } = require('./metadata');

const BODY_MAX = 1024 * 1024;

function args(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    out[m[1]] = argv[++i];
  }
  return out;
}

function serve(port, handler) {
  return new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      const chunks = [];
      let n = 0;
      req.on('data', (c) => {
        n += c.length;
        if (n > BODY_MAX) {
          res.writeHead(413, { 'Content-Type': 'application/json' });
          res.end('{"__type":"SerializationException","message":"request body too large"}');
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (n > BODY_MAX) return;
        Promise.resolve(handler(req, res, Buffer.concat(chunks))).catch((e) => {
          if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ __type: 'ServerException', message: String(e && e.message) }));
        });
      });
    });
    srv.keepAliveTimeout = 30000;
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

async function main() {
  const a = args(process.argv);
  const state = a.state || '.';
  const region = a.region || 'us-east-1';
  const keys = new Map();
  keys.set(a['access-key-id'] || 'AKIDBERTHTEST', { secret: a['secret-access-key'] || 'berth-test-secret', token: undefined, expiresAt: 0 });
  const ecs = new Ecs({ region, account: '123456789012', dockerHost: a['docker-host'] || process.env.DOCKER_HOST, keys });
  const md = new Metadata({ region, keys });
  const s1 = await serve(Number(a['ecs-port'] || 0), (q, r, b) => ecs.handle(q, r, b));
  const s2 = await serve(Number(a['metadata-port'] || 0), (q, r, b) => md.handle(q, r, b));
  fs.writeFileSync(path.join(state, 'ecs.url.tmp'), `http://127.0.0.1:${s1.address().port}\n`);
  fs.renameSync(path.join(state, 'ecs.url.tmp'), path.join(state, 'ecs.url'));
  fs.writeFileSync(path.join(state, 'metadata.url.tmp'), `http://127.0.0.1:${s2.address().port}\n`);
  fs.renameSync(path.join(state, 'metadata.url.tmp'), path.join(state, 'metadata.url'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    s1.close();
    s2.close();
    await Promise.race([ecs.cleanup(), new Promise((r) => setTimeout(r, 15000))]);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`ecs-emulator: ${e.stack || e}`);
  process.exit(1);
});
