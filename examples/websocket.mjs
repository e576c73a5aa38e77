// WebSocket: ws attached to the http.Server this module exports; chaussette
// hands upgrades to the server's own listeners. At a stop, each client is
// told 1001 (Going Away) and the page reconnects, to the next process.
//   chaussette examples/websocket.mjs      then open http://localhost:8080/
import { createServer } from 'node:http';
import { stopping } from 'chaussette';
import { WebSocketServer } from 'ws';

const page = `<!doctype html><meta charset="utf-8"><title>chaussette WebSocket</title>
<form id="send"><input name="text" value="hello again" autocomplete="off"> <button>Send</button></form>
<pre id="log"></pre>
<script>
  const say = (line) => (document.getElementById('log').textContent += line + '\\n');
  let socket;
  function connect() {
    socket = new WebSocket('ws://' + location.host + '/');
    socket.onmessage = (event) => say(event.data);
    socket.onopen = () => socket.send('hello');
    socket.onclose = (event) => { say('closed ' + event.code + '; reconnecting'); setTimeout(connect, 200); };
  }
  // Whatever is typed goes out on the socket of the moment: after a restart, the new process's.
  document.getElementById('send').onsubmit = (event) => {
    event.preventDefault();
    if (socket.readyState === WebSocket.OPEN) socket.send(event.target.text.value);
  };
  connect();
</script>
`;

const server = createServer((_req, res) => {
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(page);
});
const sockets = new WebSocketServer({ server });
sockets.on('connection', (socket) => {
  socket.send(`connected to ${process.pid}`);
  socket.on('message', (data) => socket.send(`echo ${data} from ${process.pid}`));
});
stopping.addEventListener('abort', () => {
  for (const client of sockets.clients) client.close(1001, 'restarting');
});
export default server;
