// The bench's user module, CommonJS: the plain listener shape most apps
// start from, answering byte for byte what chaussette's built-in hello app
// answers (so the hello, module and bare rows of a scenario compare alike).
const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

module.exports = (_req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
};
