import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** An event as API Gateway sends it for `ANY /{proxy+}` with no authorizer on the route. */
export function httpApiEvent(method: string, path: string, headers: Record<string, string> = {}, requestId = 'gw-req-1'): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: path === '/health' ? 'GET /health' : 'ANY /{proxy+}',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'user-agent': 'curl/8', 'x-forwarded-proto': 'https', ...headers },
    isBase64Encoded: false,
    ...(path === '/health' ? {} : { pathParameters: { proxy: path.slice(1) } }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'curl/8' },
      requestId,
      routeKey: path === '/health' ? 'GET /health' : 'ANY /{proxy+}',
      stage: '$default',
      time: '01/Dec/2026:23:00:00 +0000',
      timeEpoch: 1_796_166_000_000,
    },
  };
}
