// The workers scenario's app: hello.cjs's answer, plus how many requests and
// connections this process served, so the bench can tell how N processes
// split the load without asking the load client to read every response
// (wrk's Lua response() hook would make the client the bottleneck).
//
// With BENCH_COUNTS_DIR set, the counts go to the file named by the pid in
// that directory ("REQUESTS CONNECTIONS\n"), written once at load and then
// every 100 ms while they change; the bench reads the files before and after
// a run and takes the difference. Without it, the app only answers.
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };
// Marks a socket already counted: a WeakSet costs a hash lookup per request, the same for every server measured.
const seen = new WeakSet();
let requests = 0;
let connections = 0;

const dir = process.env.BENCH_COUNTS_DIR;
if (dir) {
  const file = join(dir, String(process.pid));
  let written = -1;
  const write = () => {
    if (written === requests) return;
    written = requests;
    writeFileSync(file, `${requests} ${connections}\n`);
  };
  write();
  setInterval(write, 100).unref();
}

module.exports = (req, res) => {
  requests++;
  const socket = req.socket;
  if (!seen.has(socket)) {
    seen.add(socket);
    connections++;
  }
  res.writeHead(200, HEADERS);
  res.end(BODY);
};
