// A minimal Docker Engine API client over the test dockerd's Unix socket.
'use strict';

const http = require('http');

// Docker 29.0-29.2 refuse versions below 1.44 and older daemons anything
// above their maximum: use min(daemon's Api-Version from /_ping, 1.44).
const API_WANT = [1, 44];
const apiBySock = new Map();
const BODY_MAX = 4 * 1024 * 1024;

function socketPath(dockerHost) {
  if (!dockerHost || dockerHost === 'none') return null;
  if (dockerHost.startsWith('unix://')) return dockerHost.slice('unix://'.length);
  if (dockerHost.startsWith('/')) return dockerHost;
  throw new Error(`only unix:// Docker hosts are supported, got ${dockerHost}`);
}

function negotiate(sock) {
  if (apiBySock.has(sock)) return apiBySock.get(sock);
  const p = new Promise((resolve) => {
    const req = http.request({ socketPath: sock, method: 'GET', path: '/_ping', timeout: 10000 }, (res) => {
      res.resume();
      const v = /^(\d+)\.(\d+)$/.exec(res.headers['api-version'] || '');
      if (!v || +v[1] > API_WANT[0] || (+v[1] === API_WANT[0] && +v[2] >= API_WANT[1])) {
        resolve(`/v${API_WANT[0]}.${API_WANT[1]}`);
      } else resolve(`/v${v[1]}.${v[2]}`);
    });
    req.on('error', () => {
      apiBySock.delete(sock);
      resolve(`/v${API_WANT[0]}.${API_WANT[1]}`);
    });
    req.end();
  });
  apiBySock.set(sock, p);
  return p;
}

// Resolves { status, body (parsed JSON or text) }; rejects on transport errors.
async function call(sock, method, path, body, timeoutMs = 30000) {
  if (!sock) throw new Error('no Docker host configured');
  const API = await negotiate(sock);
  return raw(sock, API, method, path, body, timeoutMs);
}

function raw(sock, API, method, path, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (!sock) {
      reject(new Error('no Docker host configured'));
      return;
    }
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: sock,
        method,
        path: API + path,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        let n = 0;
        res.on('data', (c) => {
          n += c.length;
          if (n > BODY_MAX) {
            req.destroy(new Error('Docker response too large'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch (e) {
            /* keep text */
          }
          resolve({ status: res.statusCode, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`Docker ${method} ${path} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

module.exports = { socketPath, call };
