// Runs a module in a child Node started with an HTTP(S) proxy in its environment and NODE_USE_ENV_PROXY=1 (Node
// reads both once, when it builds its global agents), and records what reached that proxy: a fetch the SSRF guard
// must check has to dial its target itself, never hand the name to a proxy that resolves it unchecked.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRun {
  /** The requests the proxy saw: `CONNECT host:port` (https) or `GET http://…` (http). */
  proxied: string[];
  stdout: string;
  stderr: string;
  code: number | null;
}

/** `script` is an ES module's source (it may import the repo's .ts files by absolute path). */
export async function runBehindEnvProxy(script: string): Promise<ProxiedRun> {
  const proxied: string[] = [];
  const proxy = createServer((req, res) => {
    proxied.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'audio/wav' });
    res.end('RIFF');
  });
  proxy.on('connect', (req, socket) => {
    proxied.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_USE_ENV_PROXY: '1',
        HTTP_PROXY: proxyUrl,
        HTTPS_PROXY: proxyUrl,
        http_proxy: proxyUrl,
        https_proxy: proxyUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    return { proxied, stdout, stderr, code };
  } finally {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
}
