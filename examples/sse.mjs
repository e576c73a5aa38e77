// Server-Sent Events: /events is an endless stream, one event a second. At
// a stop chaussette ends it cleanly, after the last event this app sends
// on `stopping`, and the browser's EventSource reconnects to the next process.
//   chaussette examples/sse.mjs            then open http://localhost:8080/
import { stopping } from 'chaussette';

const page = `<!doctype html><meta charset="utf-8"><title>chaussette SSE</title>
<pre id="log"></pre>
<script>
  const events = new EventSource('/events');
  events.onmessage = (event) => (document.getElementById('log').textContent += event.data + '\\n');
</script>
`;

export default function app(req, res) {
  if (req.url !== '/events') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    return res.end(page);
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const tick = () => res.write(`data: ${new Date().toISOString()} from ${process.pid}\n\n`);
  tick();
  const timer = setInterval(tick, 1000);
  const bye = () => res.write(`data: ${process.pid} is stopping (${stopping.reason}); reconnecting elsewhere\n\n`);
  stopping.addEventListener('abort', bye, { once: true });
  res.on('close', () => {
    clearInterval(timer);
    stopping.removeEventListener('abort', bye);
  });
}
