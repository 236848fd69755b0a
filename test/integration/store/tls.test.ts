import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as apiHandler } from '../../../lambdas/handlers/api.js';
import { getRuntime, resetRuntime } from '../../../lambdas/runtime.js';
import { databaseUrlFromSecret } from '../../../lambdas/store/connection.js';
import { loadConfig } from '../../../lambdas/shared/config.js';
import { createDb } from '../../../lambdas/store/db.js';
import { migrate } from '../../../lambdas/store/migrate.js';

/**
 * The database connection the Lambdas make, against a PostgreSQL that only accepts TLS with a
 * certificate from a CA of its own (scripts/tls-postgres.sh; `.ci/run` starts it and sets the
 * variables, otherwise this file starts it).
 */
interface TlsServer {
  url: string;
  port: string;
  ca: string;
  wrongCa: string;
}

function tlsServer(): TlsServer {
  let vars: Record<string, string | undefined> = process.env;
  if (!process.env.TLS_DATABASE_URL) {
    const script = fileURLToPath(new URL('../../../scripts/tls-postgres.sh', import.meta.url));
    const output = execFileSync('bash', [script], { encoding: 'utf8', timeout: 120_000 });
    vars = Object.fromEntries(
      output
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  }
  const { TLS_DATABASE_URL: url, TLS_DATABASE_PORT: port, TLS_DATABASE_CA: ca, TLS_DATABASE_WRONG_CA: wrongCa } = vars;
  if (!url || !port || !ca || !wrongCa) throw new Error('scripts/tls-postgres.sh did not report the TLS server');
  return { url, port, ca, wrongCa };
}

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds-master-AbCdEf';
/** What RDS puts in a managed master secret: no host, port or database. */
const RDS_MANAGED_SECRET = JSON.stringify({ username: 'postgres', password: 'unused-with-trust-auth' });

let server: TlsServer;
beforeAll(() => {
  server = tlsServer();
});

async function sslInUse(url: string): Promise<{ ssl: boolean; version: string }> {
  const db = createDb({ connectionString: url, max: 1 });
  try {
    const { rows } = await db.query<{ ssl: boolean; version: string }>('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0] ?? { ssl: false, version: '' };
  } finally {
    await db.end();
  }
}

describe('the database connection built from a secret', () => {
  it('connects over TLS, verifying the server against the given CA, with host, port and database from the settings', async () => {
    const url = databaseUrlFromSecret(RDS_MANAGED_SECRET, { host: 'localhost', port: server.port, database: 'postgres', caFile: server.ca });
    expect(url).toContain('sslmode=verify-full');
    expect(await sslInUse(url)).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
  });

  it('refuses a server whose certificate does not chain to the CA, saying so', async () => {
    const url = databaseUrlFromSecret(RDS_MANAGED_SECRET, { host: 'localhost', port: server.port, caFile: server.wrongCa });
    await expect(sslInUse(url)).rejects.toThrow(/self[- ]signed certificate|unable to (verify|get local issuer)/);
  });

  it('refuses a server whose certificate does not name the host connected to', async () => {
    const url = databaseUrlFromSecret(RDS_MANAGED_SECRET, { host: '127.0.0.1', port: server.port, caFile: server.ca });
    await expect(sslInUse(url)).rejects.toThrow(/Hostname\/IP does not match certificate's altnames/);
  });

  it('is refused by the server without TLS, so the checks above are what protects the connection', async () => {
    const plain = server.url.replace(/\?.*$/, '?sslmode=disable');
    await expect(sslInUse(plain)).rejects.toThrow(/no encryption/);
  });

  it('prefers the secret over the settings, and the proxy endpoint over both', () => {
    const secret = JSON.stringify({ username: 'app', password: 'p@ss/word', host: 'db.internal', port: 6432, dbname: 'plugins' });
    const direct = new URL(databaseUrlFromSecret(secret, { host: 'ignored', port: '1', database: 'ignored' }));
    expect([direct.hostname, direct.port, direct.pathname, decodeURIComponent(direct.password)]).toEqual(['db.internal', '6432', '/plugins', 'p@ss/word']);
    const proxied = new URL(databaseUrlFromSecret(secret, { proxyEndpoint: 'proxy.proxy-abc.eu-west-1.rds.amazonaws.com' }));
    expect(proxied.hostname).toBe('proxy.proxy-abc.eu-west-1.rds.amazonaws.com');
    expect(proxied.port).toBe('6432');
  });

  it('names what a secret lacks without echoing it, and never builds a URL to an undefined host', () => {
    expect(() => databaseUrlFromSecret(RDS_MANAGED_SECRET, {})).toThrow(
      expect.objectContaining({
        code: 'platform_unavailable',
        message: 'the database secret lacks host (or DATABASE_HOST)',
      }),
    );
    expect(() => databaseUrlFromSecret('{"host":"db"}', {})).toThrow('the database secret lacks username, password');
    expect(() => databaseUrlFromSecret('not json: hunter2', {})).toThrow(/^the database secret is not a JSON object$/);
    expect(() => databaseUrlFromSecret(RDS_MANAGED_SECRET, { host: 'db', port: '5432; rm' })).toThrow('the database port is not a number');
  });

  it('reads its settings from the variables the stack sets', () => {
    expect(
      loadConfig({
        DATABASE_HOST: 'db',
        DATABASE_PORT: '5432',
        DATABASE_NAME: 'plugins',
        DATABASE_PROXY_ENDPOINT: '',
        DATABASE_CA_FILE: '/var/runtime/ca-cert.pem',
      }).databaseConnection,
    ).toEqual({ host: 'db', port: '5432', database: 'plugins', proxyEndpoint: undefined, caFile: '/var/runtime/ca-cert.pem' });
  });
});

describe('the Lambda runtime with a database secret', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(async () => {
    secrets.reset();
    vi.unstubAllEnvs();
    await resetRuntime();
  });
  afterAll(() => secrets.restore());

  function lambdaEnvironment(extra: Record<string, string> = {}) {
    vi.stubEnv('DATABASE_URL', undefined);
    vi.stubEnv('DATABASE_SECRET_ARN', SECRET_ARN);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    for (const [key, value] of Object.entries(extra)) vi.stubEnv(key, value);
  }

  it('migrates and queries through a verified TLS connection from an RDS-managed secret', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: RDS_MANAGED_SECRET });
    // A database of its own: the TLS server outlives a run (scripts/tls-postgres.sh keeps its data), and
    // migrations applied by an older checkout must not stand in the way of this one's.
    const name = `tls_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = createDb({
      connectionString: databaseUrlFromSecret(RDS_MANAGED_SECRET, { host: 'localhost', port: server.port, database: 'postgres', caFile: server.ca }),
      max: 1,
    });
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    lambdaEnvironment({ DATABASE_HOST: 'localhost', DATABASE_PORT: server.port, DATABASE_NAME: name, DATABASE_CA_FILE: server.ca });
    const { db } = await getRuntime();
    const { rows } = await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(rows).toEqual([{ ssl: true }]);
    // The migration function runs through the same URL.
    const url = databaseUrlFromSecret(RDS_MANAGED_SECRET, loadConfig().databaseConnection);
    await migrate(url);
    expect(await migrate(url)).toEqual([]);
  });

  it('answers 503 platform_unavailable when the secret lacks the host and nothing supplies it', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: RDS_MANAGED_SECRET });
    lambdaEnvironment();
    await expect(getRuntime()).rejects.toThrow('the database secret lacks host (or DATABASE_HOST)');
    const response = await apiHandler({ rawPath: '/workspaces/ws-1/plugins', requestContext: { http: { method: 'GET' } } } as APIGatewayProxyEventV2);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(String(response.body))).toMatchObject({ code: 'platform_unavailable' });
    expect(String(response.body)).not.toContain('undefined');
  });
});
