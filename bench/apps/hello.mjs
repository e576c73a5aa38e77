// The bench's user module, ESM: the same listener as hello.cjs, as a default export.
const BODY = 'Hello from chaussette\n';
const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

export default (_req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
};
