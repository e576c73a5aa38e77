// One message out on a WebSocket and the next one back: how the upgrade and
// socket.io tests talk to an echoing `ws` server.
import type WebSocket from 'ws';

export const exchange = (socket: WebSocket, text: string) =>
  new Promise<string>((resolve) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.send(text);
  });
