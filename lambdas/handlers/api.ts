import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { lazyHandler } from './lazy.js';
import { createS3Client, createSfnClient } from '../shared/aws.js';
import { buildApiDeps } from '../composition/api.js';
import { createApi, type ExtraRoutes } from '../api/app.js';
import { fromApiGatewayEvent, toApiGatewayResult } from '../api/apigw.js';
import { errorResponse } from '../api/respond.js';
import { json } from '../api/http.js';
import { PlatformUnavailable } from '../shared/errors.js';
import { logger } from '../shared/logger.js';

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/** The API Lambda's handler; the local stack builds one with its own admin routes added. */
export function createApiHandler(extraRoutes?: ExtraRoutes): ApiHandler {
  const api = lazyHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(async (rt) => {
    const [s3, sfn] = await Promise.all([createS3Client(rt.aws), createSfnClient(rt.aws)]);
    const handle = createApi(buildApiDeps(rt, { s3, sfn }), extraRoutes);
    return async (event) => toApiGatewayResult(await handle(fromApiGatewayEvent(event)));
  });
  return async (event) => {
    try {
      return await api(event);
    } catch (err) {
      // Only a failed start-up (no database, bad configuration, a schema behind the code) lands
      // here; requests map their own errors.
      if (err instanceof PlatformUnavailable && Array.isArray(err.details.missingMigrations)) {
        // Logged once when found (store/schema-version.ts). /health stays a liveness answer and says so.
        if (event.rawPath === '/health') return toApiGatewayResult(json(200, { status: 'ok', schema: 'behind' }));
        return toApiGatewayResult(json(err.status, { error: err.message, code: err.code }));
      }
      return toApiGatewayResult(errorResponse(err, logger));
    }
  };
}

/**
 * The API Lambda: API Gateway HTTP API (payload 2.0) in, the API's response out. It is the only
 * authentication: the routes have no API Gateway authorizer, so every 401 carries the contract body.
 */
export const handler = createApiHandler();
