import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { streamGet } from '../../src/http/stream-get';

/** Listens on a free loopback port; resolves with the base URL and a close(). */
async function listen(server: net.Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        (server as http.Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Runs `use` against `server` listening on a free loopback port, then closes it. */
async function serving(server: net.Server, use: (url: string) => Promise<void>): Promise<void> {
  const { url, close } = await listen(server);
  try {
    await use(url);
  } finally {
    await close();
  }
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('http/stream-get', () => {
  it('gives status, headers and the body as a stream, sending the request headers', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 0x5a);
    let seen: http.IncomingHttpHeaders | undefined;
    await serving(
      http.createServer((req, res) => {
        seen = req.headers;
        res.writeHead(207, { 'Content-Type': 'multipart/related; boundary=x' });
        res.end(body);
      }),
      async (url) => {
        const res = await streamGet(`${url}/a?b=c`, {
          headers: { Accept: 'application/dicom', Authorization: 'Basic dTpw' },
          idleTimeoutMs: 5000,
        });
        assert.equal(res.status, 207);
        assert.equal(res.header('Content-Type'), 'multipart/related; boundary=x');
        assert.equal(res.header('x-absent'), undefined);
        assert.ok((await readAll(res.body)).equals(body));
        assert.equal(seen?.accept, 'application/dicom');
        assert.equal(seen?.authorization, 'Basic dTpw');
      },
    );
  });

  it('fails with a TimeoutError when the server does not answer', async () => {
    await serving(
      http.createServer(() => undefined),
      async (url) => {
        await assert.rejects(streamGet(url, { idleTimeoutMs: 200 }), { name: 'TimeoutError' });
      },
    );
  });

  it('fails the body with a TimeoutError when the server goes silent mid-body', async () => {
    await serving(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Length': '1000' });
        res.write(Buffer.alloc(100)); // and nothing more
      }),
      async (url) => {
        const res = await streamGet(url, { idleTimeoutMs: 200 });
        assert.equal(res.status, 200);
        await assert.rejects(readAll(res.body), { name: 'TimeoutError' });
      },
    );
  });

  it('does not cut a slow but steady body at the idle timeout', async () => {
    await serving(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Length': '6' });
        let sent = 0;
        const timer = setInterval(() => {
          res.write('x');
          if (++sent === 6) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
      }),
      async (url) => {
        const res = await streamGet(url, { idleTimeoutMs: 300 });
        assert.equal((await readAll(res.body)).toString(), 'xxxxxx');
      },
    );
  });

  it('rejects with the network error when nothing listens', async () => {
    const server = await listen(net.createServer());
    const { url } = server;
    await server.close();
    await assert.rejects(streamGet(url, { idleTimeoutMs: 2000 }), { code: 'ECONNREFUSED' });
  });

  it('retries once on a new connection when a kept-alive one was reset before answering', async () => {
    // A raw server: the first request of each connection is answered (keep-alive), a second one
    // on the same connection is answered with a TCP reset, as by a server that dropped it.
    let connections = 0;
    await serving(
      net.createServer((socket) => {
        connections += 1;
        let requests = 0;
        let buffered = '';
        socket.on('data', (data) => {
          buffered += data.toString('latin1');
          while (buffered.includes('\r\n\r\n')) {
            buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
            requests += 1;
            if (requests > 1) {
              socket.resetAndDestroy();
              return;
            }
            socket.write(
              'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
            );
          }
        });
      }),
      async (url) => {
        const agent = new http.Agent({ keepAlive: true });
        try {
          const first = await streamGet(url, { agent, idleTimeoutMs: 2000 });
          assert.equal((await readAll(first.body)).toString(), 'ok');
          const second = await streamGet(url, { agent, idleTimeoutMs: 2000 });
          assert.equal((await readAll(second.body)).toString(), 'ok');
          assert.equal(connections, 2, 'the reset connection was replaced by a new one');
        } finally {
          agent.destroy();
        }
      },
    );
  });
});
