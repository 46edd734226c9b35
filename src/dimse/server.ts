/**
 * The DIMSE listener: Veil's own net (or tls) server on dimse.host:port, one VeilScp per socket
 * with TCP_NODELAY, the association limit, and the idle timeout. dcmjs-dimse's Server is not
 * used: it binds every interface and cannot count associations.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { log as dimseLog } from 'dcmjs-dimse';
import { VeilError } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { StorageCommitments } from './storage-commitment';
import { VeilScp } from './veil-scp';

/** A running DIMSE listener. */
export interface DimseServer {
  /** The bound port (the free one picked when dimse.port is 0). */
  port: number;
  /** Stops listening, aborts open associations (unacknowledged instances are re-sent by their senders), resolves when all sockets closed. Safe to call twice. */
  close(): Promise<void>;
}

/** TLS server options from dimse.tls.*, or undefined for plain TCP. */
function tlsOptions(deps: GatewayDeps): tls.TlsOptions | undefined {
  const { certFile, keyFile } = deps.config.dimse.tls;
  if (certFile === '' && keyFile === '') return undefined;
  if (certFile === '' || keyFile === '')
    throw new VeilError('VEIL_E_CONFIG_INVALID', 'dimse.tls needs both certFile and keyFile');
  try {
    return { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
  } catch (err) {
    throw new VeilError(
      'VEIL_E_CONFIG_INVALID',
      'dimse.tls certificate or key cannot be read',
      {},
      { cause: err },
    );
  }
}

/**
 * Starts the DIMSE listener of GatewayDeps.config.dimse: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET
 * and storage commitment (N-ACTION) for the calling AEs and hosts allowed there; resolves once it listens.
 */
export async function startDimseServer(deps: GatewayDeps): Promise<DimseServer> {
  const config = deps.config.dimse;
  // dcmjs-dimse logs every PDU at info level to the console; Veil logs per association itself.
  dimseLog.setLevel('silent');
  const timeout = config.timeoutSeconds * 1000;
  const scpOptions = { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout };
  const sockets = new Map<net.Socket, VeilScp | undefined>();
  let active = 0;
  let nextId = 1;
  const log = deps.log.child({ door: 'dimse' });
  const commitments = new StorageCommitments({
    catalogue: deps.catalogue,
    log,
    aeTitle: config.aeTitle,
    destinations: config.destinations,
    timeoutSeconds: config.storageCommitmentTimeoutSeconds,
    associationTimeoutSeconds: config.timeoutSeconds,
    onReport: (outcome) => deps.metrics.storageCommitments.inc({ outcome }),
  });
  const resumed = commitments.resume();
  if (resumed > 0) log.info({ resumed }, 'storage commitments resumed from the catalogue');
  const hooks = {
    commitments,
    policy: {
      aeTitle: config.aeTitle,
      allowedCallingAETitles: config.allowedCallingAETitles,
      allowedHosts: config.allowedHosts,
      maxAssociations: config.maxAssociations,
    },
    activeAssociations: () => active,
    associationOpened: () => {
      active++;
    },
    associationClosed: () => {
      active--;
    },
  };

  const onConnection = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    sockets.set(socket, undefined);
    socket.once('close', () => sockets.delete(socket));
    try {
      const scp = new VeilScp(socket, scpOptions, deps, hooks, nextId++);
      sockets.set(socket, scp);
      // Socket errors, idle timeouts, malformed PDUs: drop this association, keep serving others.
      scp.on('networkError', (err: Error) => {
        log.debug({ err: err.message }, 'association dropped');
        socket.destroy();
      });
    } catch (err) {
      log.error({ err }, 'cannot serve a new association');
      socket.destroy();
    }
  };

  const secure = tlsOptions(deps);
  const server = secure
    ? tls.createServer(secure, onConnection)
    : net.createServer({ noDelay: true }, onConnection);
  if (secure) {
    server.on('tlsClientError', (err: Error) =>
      log.warn({ err: err.message }, 'TLS handshake failed'),
    );
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'DIMSE listener error'));
  const port = (server.address() as net.AddressInfo).port;
  log.info(
    { host: config.host, port, aeTitle: config.aeTitle, tls: secure !== undefined },
    'DIMSE listening',
  );

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= (async () => {
        commitments.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const open = [...sockets].map(
          ([socket, scp]) =>
            new Promise<void>((resolve) => {
              socket.once('close', () => resolve());
              // A-ABORT (PS3.8 7.3): the peer re-sends what was not acknowledged.
              if (scp?.isAssociated()) scp.sendAbort();
              socket.destroy();
            }),
        );
        await Promise.all([stopped, ...open]);
        log.info('DIMSE listener closed');
      })();
      return closing;
    },
  };
}
