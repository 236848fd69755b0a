/** The API's own request/response shapes, independent of API Gateway's event format. */
export interface ApiRequest {
  method: string;
  path: string;
  /** lower-cased names */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body: string | undefined;
  requestId: string;
}

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export function json(statusCode: number, payload: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) };
}

export function redirect(location: string, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode: 302, headers: { location, 'cache-control': 'no-store', ...headers }, body: '' };
}
