import { SFNClient } from '@aws-sdk/client-sfn';
import { type ExtraRoutes, createApi } from '../../lambdas/api/app.js';
import { authenticate } from '../../lambdas/api/auth.js';
import type { ApiPorts } from '../../lambdas/api/context.js';
import { postgresPorts } from '../../lambdas/use-cases/adapters/postgres.js';
import { sfnStarter } from '../../lambdas/use-cases/adapters/sfn.js';
import { type Config, loadConfig } from '../../lambdas/shared/config.js';
import type { Db } from '../../lambdas/store/db.js';

export const TEST_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:m';

const notUsed = (): never => {
  throw new Error('not used');
};

/**
 * The API handler on a test database (test/support/database.ts): the Postgres ports and the real
 * auth on `db`, executions started through a real SFNClient (mock it with aws-sdk-client-mock when
 * a test starts any), and no sources, registry, staging or cleanup unless a test passes `sources`.
 * `routes` are extra routes, as the local stack adds its own.
 */
export function createTestApi(
  db: Db,
  opts: { adminToken: string; sources?: (config: Config) => ApiPorts['sources']; routes?: ExtraRoutes },
): ReturnType<typeof createApi> {
  const config = { ...loadConfig({}), adminToken: opts.adminToken };
  return createApi(
    {
      config,
      ports: {
        ...postgresPorts(db, sfnStarter(new SFNClient({ region: 'us-east-1' }), TEST_STATE_MACHINE_ARN)),
        sources: opts.sources?.(config) ?? { schemes: () => [], validate: notUsed },
        registry: { list: async () => [] },
        stager: { stage: notUsed, presign: async () => 'http://example.invalid' },
      },
      authenticate: (authorization) => authenticate(db, config.adminToken, authorization),
      runCleanup: async () => ({ started: [], failedToStart: [], purgedRows: 0, expiredTarballs: 0 }),
    },
    opts.routes,
  );
}
