// A bounded load for restart tests, run inside the guest (plain Node, no
// dependencies): keep-alive clients and new-connection clients in parallel
// for a fixed time, every answer checked. Prints one JSON line of counts.
//
//   node load.mjs --socket /run/chaussette/app.sock --ms 8000 [--keep-alive 4] [--new 4] [--stop-file PATH] [--method POST]
//
// With --stop-file the load ends as soon as that file exists (--ms is then
// only its upper bound), so a test ends it once what it waits for happened,
// however slow the machine is.
//
// Like Node's own http.Agent, it never sends a request again: every error
// is a failure, wherever it happened (RFC 9112 section 9.3.1 lets a client
// resend an idempotent request that met a closed keep-alive connection, but
// most do not, and a POST never may). With --method POST each request is a POST
// with a body.
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, i, all) => (i % 2 === 0 ? [...pairs, [value.replace(/^--/, ''), all[i + 1]]] : pairs), []),
);
const target = args.socket ? { socketPath: args.socket } : { host: args.host ?? '127.0.0.1', port: Number(args.port) };
const begun = Date.now();
const until = begun + Number(args.ms ?? 5000);
const going = () => Date.now() < until && !(args['stop-file'] && existsSync(args['stop-file']));
const counts = { sent: 0, ok: 0, failed: 0, keepAlive: 0, newConnection: 0, errors: {}, pids: {} };
const post = (args.method ?? 'GET').toUpperCase() === 'POST';
const BODY = 'x'.repeat(1024);

function once(agent) {
  return new Promise((resolve) => {
    const started = Date.now();
    // Where a failure happened, for whoever reads the counts: still
    // connecting (the server never accepted), or with the request sent.
    let stage = 'connecting';
    const headers = post ? { host: 'load', 'content-type': 'text/plain', 'content-length': String(BODY.length) } : { host: 'load' };
    const req = request({ ...target, method: post ? 'POST' : 'GET', path: '/', agent, headers, timeout: 30000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && /^\d+\n$/.test(body) ? { pid: body.trim() } : { error: `status ${res.statusCode}` }));
      res.on('error', (error) => resolve({ error: error.code ?? error.message }));
    });
    req.on('socket', (socket) => {
      if (!socket.connecting) stage = 'request sent';
      else socket.once('connect', () => (stage = 'request sent'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => {
      const code = error.code ?? error.message;
      // The rare slow failure says when and where, so that a flaky run can be read.
      const detail = code === 'TIMEOUT' ? `, ${stage}, at +${started - begun} ms` : '';
      resolve({ error: code, kind: `${req.reusedSocket ? 'reused' : 'fresh'}${detail}` });
    });
    req.end(post ? BODY : undefined);
  });
}

async function client(kind) {
  const agent = kind === 'keepAlive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
  while (going()) {
    counts.sent++;
    counts[kind]++;
    const result = await once(agent);
    if (result.pid) {
      counts.ok++;
      counts.pids[result.pid] = (counts.pids[result.pid] ?? 0) + 1;
    } else {
      counts.failed++;
      const key = `${result.error} (${kind}, ${result.kind ?? 'answered'} connection)`;
      counts.errors[key] = (counts.errors[key] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  if (agent) agent.destroy();
}

const clients = [];
for (let i = 0; i < Number(args['keep-alive'] ?? 4); i++) clients.push(client('keepAlive'));
for (let i = 0; i < Number(args.new ?? 4); i++) clients.push(client('newConnection'));
await Promise.all(clients);
console.log(JSON.stringify(counts));
