import { PlatformUnavailable } from '../shared/errors.js';

/**
 * Where the parts of the connection an RDS-managed master secret lacks come from (the stack sets
 * them from context; config.ts reads them), and how the server is verified.
 */
export interface ConnectionSettings {
  /** `DATABASE_HOST`: used when the secret has no `host`. */
  host?: string;
  /** `DATABASE_PORT`: used when the secret has no `port` (else 5432). */
  port?: string;
  /** `DATABASE_NAME`: used when the secret has no `dbname` (else `postgres`). */
  database?: string;
  /** `DATABASE_PROXY_ENDPOINT`: an RDS Proxy; wins over any host, the credentials stay the secret's. */
  proxyEndpoint?: string;
  /**
   * `DATABASE_CA_FILE`: PEM bundle the server certificate must chain to. On Lambda the stack points
   * it at the runtime's `/var/runtime/ca-cert.pem`, which holds the Amazon and RDS roots (Node.js 20+
   * runtimes no longer load them by default).
   */
  caFile?: string;
}

/**
 * The connection string for an RDS-style secret (`{username, password, host?, port?, dbname?}`):
 * always TLS with the server's certificate chain and host name verified (`verify-full`), against
 * `caFile` when given, else Node's default roots. A secret that cannot make a connection throws
 * PlatformUnavailable naming what is missing, never its values.
 */
export function databaseUrlFromSecret(secretString: string, settings: ConnectionSettings): string {
  const secret = parseSecret(secretString);
  const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
  const username = text(secret.username);
  const password = typeof secret.password === 'string' && secret.password ? secret.password : undefined;
  const host = settings.proxyEndpoint ?? text(secret.host) ?? settings.host;
  const port = String(secret.port ?? '').trim() || settings.port || '5432';
  const database = text(secret.dbname) ?? settings.database ?? 'postgres';
  if (!username || !password || !host) {
    const missing = [!username && 'username', !password && 'password', !host && 'host (or DATABASE_HOST)'].filter(Boolean);
    throw new PlatformUnavailable(`the database secret lacks ${missing.join(', ')}`);
  }
  if (!/^\d{1,5}$/.test(port)) throw new PlatformUnavailable('the database port is not a number');

  const query = new URLSearchParams({ sslmode: 'verify-full', ...(settings.caFile && { sslrootcert: settings.caFile }) });
  const auth = `${encodeURIComponent(username)}:${encodeURIComponent(password)}`;
  return `postgres://${auth}@${host}:${port}/${encodeURIComponent(database)}?${query}`;
}

function parseSecret(secretString: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(secretString);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Reported below without the secret's text.
  }
  throw new PlatformUnavailable('the database secret is not a JSON object');
}
