/**
 * An HTTP server on 127.0.0.1 at a free port, for the fakes of remote APIs: started by `listen`, and closed by `close`
 * with its open connections (keep-alive sockets would hold `close` until they time out).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export class LoopbackServer {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) {}

  /** Starts listening; answers `http://127.0.0.1:<port>`. */
  async listen(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
