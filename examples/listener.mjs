// The plainest app: a (req, res) listener, as node:http takes it.
//   chaussette examples/listener.mjs
export default function app(req, res) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: 'listener', method: req.method, url: req.url }));
}
