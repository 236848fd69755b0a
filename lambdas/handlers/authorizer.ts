import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { getRuntime } from '../runtime.js';
import { authenticate } from '../api/auth.js';
import { logger } from '../shared/logger.js';

/**
 * API Gateway Lambda authorizer (simple responses): the same token check the API runs locally.
 * A valid token's principal travels to the API Lambda in the authorizer context (and API Gateway
 * caches it). An invalid token is let through WITHOUT a principal: an HTTP API deny is a bare 403,
 * while the contract is 401 `unauthorized` with our error body, which the API Lambda then answers.
 */
export async function handler(event: APIGatewayRequestAuthorizerEventV2): Promise<APIGatewaySimpleAuthorizerWithContextResult<{ principal: string }>> {
  try {
    const rt = await getRuntime();
    const authorization = event.headers?.authorization ?? event.headers?.Authorization;
    const principal = await authenticate(rt.db, rt.config.adminToken, authorization);
    return { isAuthorized: true, context: { principal: JSON.stringify(principal) } };
  } catch (err) {
    logger.info('token not recognised; the API will answer 401', { reason: (err as Error).name });
    return { isAuthorized: true, context: { principal: '' } };
  }
}
