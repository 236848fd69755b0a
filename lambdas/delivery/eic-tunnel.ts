import type { Duplex } from 'node:stream';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { awsThrottled } from '../shared/aws-faults.js';
import { wholeIdentLine } from './ssh-ident.js';

/**
 * The EC2 Instance Connect Endpoint tunnel itself: a WebSocket to the presigned `openTunnel` URL
 * (eic-tunnel-url.ts), its bytes handed back as a Duplex that ssh2 takes as its socket. The
 * functions need no network path to the instances, only to the endpoint's DNS name.
 *
 * - Bounded: the handshake (open), silence from the endpoint (idle) and the whole tunnel (total,
 *   also sent as `maxTunnelDuration`, so the endpoint closes it too).
 * - The server's identification line reaches ssh2 whole (ssh-ident.ts): the endpoint may cut it
 *   into several messages, and ssh2 loses bytes of a line that comes in three or more.
 * - `ws` is loaded on first use, so the SSM path and cold starts never pay for it.
 */

export interface TunnelTimeouts {
  /** The WebSocket handshake, TLS and DNS included. */
  openMs: number;
  /** Nothing received from the endpoint for this long (SSH keepalives answer every 15 s). */
  idleMs: number;
  /** The whole tunnel, however busy. */
  totalMs: number;
}

/**
 * Opens the WebSocket and hands back its bytes as a Duplex. A refusal of the handshake is a
 * documented error: 401/403 (signature, expiry, or the role may not open this tunnel) and other
 * 4xx are `delivery_failed`; 429 and 5xx are AWS trouble that passes (`workspace_unreachable`
 * after the workflow's retries); no answer at all is `workspace_unreachable`.
 */
export async function openTunnel(url: string, timeouts: TunnelTimeouts, context: Record<string, unknown>, signal?: AbortSignal): Promise<Duplex> {
  const { WebSocket, createWebSocketStream } = await import('ws');
  const ws = new WebSocket(url, { handshakeTimeout: timeouts.openMs, perMessageDeflate: false, followRedirects: false });
  ws.on('error', () => undefined);

  const stream = await new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        ws.terminate();
        reject(error);
      } else resolve(wholeIdentLine(createWebSocketStream(ws)));
    };
    const timer = setTimeout(() => settle(new WorkspaceUnreachable('timed out opening the EC2 Instance Connect Endpoint tunnel', context)), timeouts.openMs);
    const onAbort = () => settle(new DeliveryFailed('the delivery command was aborted', context, { cause: signal?.reason }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // The stream is made in the 'open' listener, not after the await: ws can emit the endpoint's first
    // message (the server's identification line, sent right behind the handshake answer) before an
    // awaiting caller resumes, and a message no one listens for is gone.
    ws.once('open', () => settle());
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      settle(refusal(res.statusCode ?? 0, context));
    });
    ws.once('error', (err: Error & { code?: string }) => {
      const timedOut = /handshake has timed out/i.test(err.message);
      settle(
        new WorkspaceUnreachable(
          timedOut ? 'timed out opening the EC2 Instance Connect Endpoint tunnel' : 'could not reach the EC2 Instance Connect Endpoint',
          { ...context, ...(err.code && { errno: err.code }) },
          { cause: err },
        ),
      );
    });
    ws.once('close', () => settle(new WorkspaceUnreachable('the EC2 Instance Connect Endpoint closed the tunnel before it opened', context)));
  });

  // The endpoint closing the tunnel ends the stream; closing it too tells ssh2 the connection is gone, as a TCP socket would.
  stream.once('end', () => stream.destroy());
  let idle = setTimeout(onIdle, timeouts.idleMs);
  function onIdle() {
    stream.destroy(new Error('the EC2 Instance Connect Endpoint tunnel was idle too long'));
  }
  ws.on('message', () => {
    clearTimeout(idle);
    idle = setTimeout(onIdle, timeouts.idleMs);
  });
  const total = setTimeout(() => stream.destroy(new Error('the EC2 Instance Connect Endpoint tunnel reached its maximum duration')), timeouts.totalMs);
  stream.once('close', () => {
    clearTimeout(idle);
    clearTimeout(total);
    ws.terminate();
  });
  return stream;
}

function refusal(status: number, context: Record<string, unknown>): Error {
  const details = { ...context, httpStatus: status };
  if (status === 401 || status === 403) {
    return new DeliveryFailed(
      `the EC2 Instance Connect Endpoint refused to open the tunnel (HTTP ${status}): the signed request was not accepted, or the delivery role may not open tunnels to this instance`,
      details,
    );
  }
  if (status === 429 || status >= 500) {
    const err = Object.assign(new Error(`EC2 Instance Connect Endpoint answered HTTP ${status}`), {
      name: 'TunnelThrottled',
      $metadata: { httpStatusCode: status },
    });
    return awsThrottled(err, 'the EC2 Instance Connect Endpoint tunnel', details);
  }
  return new DeliveryFailed(`the EC2 Instance Connect Endpoint refused to open the tunnel (HTTP ${status})`, details);
}
