import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { apiRouter } from '../../lambdas/api/app.js';
import { openApiDocument } from '../../lambdas/api/openapi-document.js';
import { routesOf } from '../../lambdas/api/router.js';
import { localInstanceRoutes } from '../../local/api-worker-routes.js';

/**
 * Holds every answer the e2e tests receive from the local stack to the API's OpenAPI document
 * (SPEC §13): the route's document must list the status, and a JSON body must match the schema
 * listed for it (JSON Schema 2020-12, formats checked). The document is the one the local stack
 * serves at `/openapi.json`: the API's routes and the stack's own.
 */

type Json = Record<string, any>;
interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

const DOCUMENT_ID = 'https://molecule.local/openapi.json';
/** What the router answers for a request no route takes (the document's description says so). */
const UNROUTED: Record<number, string> = { 400: 'invalid_request', 404: 'not_found', 405: 'method_not_allowed' };

let loaded: { document: Json; ajv: Ajv2020; validators: Map<string, ValidateFunction> } | undefined;

function load() {
  if (!loaded) {
    const document = openApiDocument(routesOf(apiRouter(localInstanceRoutes({ stop: () => {}, start: () => {} })))) as Json;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajvFormats.default(ajv);
    // The whole document is one resource, so `#/components/schemas/...` references resolve inside it.
    ajv.addSchema(document, DOCUMENT_ID, undefined, false);
    loaded = { document, ajv, validators: new Map() };
  }
  return loaded;
}

/** The schema at a JSON pointer of the document, compiled once. */
function validator(pointer: string[]): ValidateFunction {
  const { ajv, validators } = load();
  const fragment = pointer.map((token) => encodeURIComponent(token.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');
  let validate = validators.get(fragment);
  if (!validate) {
    validate = ajv.compile({ $ref: `${DOCUMENT_ID}#/${fragment}` });
    validators.set(fragment, validate);
  }
  return validate;
}

/** The documented path a request path is, as the router picks it: the most literal segments, then the first declared. */
function documentedPath(document: Json, path: string, method: string): string | undefined {
  const segments = path
    .split('?')[0]!
    .replace(/(.)\/$/, '$1')
    .split('/');
  const matches = Object.keys(document.paths).filter((template) => {
    const parts = template.split('/');
    return parts.length === segments.length && parts.every((part, i) => /^\{\w+\}$/.test(part) || part === segments[i]);
  });
  const literal = (template: string) => template.split('/').filter((part) => !part.startsWith('{')).length;
  const taking = matches.filter((template) => document.paths[template][method]);
  return taking.sort((a, b) => literal(b) - literal(a))[0] ?? (matches.length ? '' : undefined);
}

function check(validate: ValidateFunction, body: unknown, what: string): void {
  if (!validate(body)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
    throw new Error(
      `${what}: the body does not match the OpenAPI document:\n  ${problems.slice(0, 8).join('\n  ')}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    );
  }
}

/** Throws, failing the test, when `answer` to `method path` is not what the API's document says. */
export function assertConformsToOpenApi(method: string, path: string, answer: Answer): void {
  const { document } = load();
  const operationMethod = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  const what = `${method} ${path} answered ${answer.status}`;
  const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const jsonBody = mediaType === 'application/json' && answer.body !== undefined && method !== 'HEAD';
  const template = documentedPath(document, path, operationMethod);

  if (!template) {
    // No route has this request: the router's own 400, 404 or 405 with the error body.
    const code = UNROUTED[answer.status];
    if (!code || (answer.body as Json | undefined)?.code !== code)
      throw new Error(`${what}: no documented route takes it, and that is no 400/404/405 of the router`);
    if (jsonBody) check(validator(['components', 'schemas', 'ErrorBody']), answer.body, what);
    return;
  }

  const responses: Json = document.paths[template][operationMethod].responses;
  const response = responses[String(answer.status)];
  if (!response) {
    throw new Error(`${what}: the OpenAPI document lists no ${answer.status} for ${method} ${template} (it lists ${Object.keys(responses).join(', ')})`);
  }
  const content: Json = response.content ?? {};
  if (jsonBody) {
    if (!content['application/json']) throw new Error(`${what}: the document lists no JSON body for it`);
    check(validator(['paths', template, operationMethod, 'responses', String(answer.status), 'content', 'application/json', 'schema']), answer.body, what);
  } else if (mediaType && answer.body !== undefined && method !== 'HEAD' && !content[mediaType]) {
    throw new Error(`${what}: the document lists no ${mediaType} body for it (it lists ${Object.keys(content).join(', ') || 'none'})`);
  }
}
