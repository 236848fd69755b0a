import * as z from '../shared/zod.js';
import { ERROR_DECLARATIONS, type ErrorName } from '../shared/errors.js';
import type { Caller, HeaderContract, ResponseContract, RouteContract, SchemaName } from './contract/routes.js';
import * as bodies from './contract/responses.js';
import * as requests from './schemas.js';
import pkg from '../../package.json' with { type: 'json' };

/**
 * The OpenAPI 3.1 document of a set of routes (SPEC §13), generated from their contracts: every
 * schema in it is zod's JSON Schema output of the schema the route parses with or answers with
 * (request side as the input a caller sends, `io: 'input'`; answers as they are written). Request
 * and response bodies exported by schemas.ts and contract/responses.ts are named components.
 * Loaded only by `GET /openapi.json`, on its first request.
 */

export type OpenApiDocument = z.output<typeof bodies.OpenApiDocument>;
type JsonSchema = Record<string, unknown>;

/** What any route can answer besides its own errors; a route that takes a token also 401. */
const EVERY_ROUTE: readonly ErrorName[] = ['UnexpectedFailure', 'PlatformUnavailable'];

const ERROR_HEADERS: Record<number, Record<string, HeaderContract>> = {
  401: { 'WWW-Authenticate': { schema: 'BearerChallenge', description: 'the token scheme' } },
  429: { 'Retry-After': { schema: 'RetryAfterHeader', description: 'seconds to wait before trying again' } },
};

const CALLERS: Record<Caller, string> = {
  anyone: 'anyone, no token',
  admin: 'the admin token',
  org: "the org's token",
  workspace: "the workspace's own token",
};

const DESCRIPTION = `Installs, updates and removes plugins in Molecule agent workspaces (SPEC §4).
Every error is \`{"error": "<message>", "code": "<code>", ...context}\` with the code's status; each
operation lists the codes it can answer per status. A path no route has is 404 \`not_found\`, a method
a path does not take is 405 \`method_not_allowed\` (\`Allow\` lists those it takes), a request target
that is no URL path is 400 \`invalid_request\`. Every answer carries \`X-Request-Id\`. A GET route also
answers HEAD, without a body.`;

export function openApiDocument(routes: readonly RouteContract[]): OpenApiDocument {
  const schemas = new ComponentSchemas();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    if (item[route.method]) throw new Error(`two routes for ${route.method.toUpperCase()} ${route.path}`);
    paths[route.path] = { ...item, [route.method]: operation(route, schemas) };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Molecule plugin delivery', version: pkg.version, description: DESCRIPTION },
    servers: [{ url: '/', description: 'the API: the API Gateway stage, or the local stack' }],
    tags: [...new Map(routes.map((r) => [r.tag.name, r.tag])).values()],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: schemas.emit(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an admin, org or workspace token' } },
    },
  };
}

function operation(route: RouteContract, schemas: ComponentSchemas): JsonSchema {
  const anyone = route.callers.includes('anyone');
  return {
    operationId: route.id,
    summary: route.summary,
    description: `Callers: ${route.callers.map((c) => CALLERS[c]).join(', ')}.`,
    tags: [route.tag.name],
    ...(anyone ? { security: [] } : {}),
    parameters: parameters(route),
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemas.input(route.body) } } } } : {}),
    responses: { ...successes(route, schemas), ...errors(route, anyone, schemas) },
  };
}

function parameters(route: RouteContract): JsonSchema[] {
  const path = Object.entries(route.params ?? {}).map(([name, schema]) => parameter(name, 'path', true, inline(schema, 'input')));
  const query = route.query ? inline(route.query, 'input') : undefined;
  const required = new Set((query?.required as string[] | undefined) ?? []);
  const queried = Object.entries((query?.properties as Record<string, JsonSchema> | undefined) ?? {}).map(([name, schema]) =>
    parameter(name, 'query', required.has(name), schema),
  );
  const headers = Object.entries(route.headers ?? {}).map(([name, header]) => ({
    ...parameter(name, 'header', false, inline(named(header.schema), 'input')),
    description: header.description,
  }));
  return [...path, ...queried, ...headers];
}

function parameter(name: string, where: 'path' | 'query' | 'header', required: boolean, schema: JsonSchema): JsonSchema {
  const { description, ...rest } = schema;
  return { name, in: where, required, ...(description ? { description } : {}), schema: rest };
}

function successes(route: RouteContract, schemas: ComponentSchemas): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(route.responses).map(([status, response]: [string, ResponseContract]) => [status, answer(response, schemas)]));
}

function answer(response: ResponseContract, schemas: ComponentSchemas): JsonSchema {
  const content: Record<string, JsonSchema> = {};
  if (response.body) content['application/json'] = { schema: schemas.output(response.body) };
  for (const media of response.media ?? []) content[media] = { schema: { type: 'string' } };
  return {
    description: response.description,
    ...(response.headers ? { headers: responseHeaders(response.headers) } : {}),
    ...(Object.keys(content).length ? { content } : {}),
  };
}

function responseHeaders(headers: Readonly<Record<string, HeaderContract>>): JsonSchema {
  return Object.fromEntries(Object.entries(headers).map(([name, h]) => [name, { description: h.description, schema: inline(named(h.schema), 'output') }]));
}

/** The route's documented errors by status, `code` narrowed to the codes of that status. */
function errors(route: RouteContract, anyone: boolean, schemas: ComponentSchemas): Record<string, JsonSchema> {
  const names: readonly ErrorName[] = [...(anyone ? [] : (['Unauthorized'] as const)), ...route.errors, ...EVERY_ROUTE];
  const byStatus = new Map<number, Set<string>>();
  for (const name of names) {
    const { code, status } = ERROR_DECLARATIONS[name];
    if (route.responses[status]) throw new Error(`${route.id}: error ${code} has the status ${status} of an answer`);
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  const errorBody = schemas.output('ErrorBody');
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, codes]) => [
        String(status),
        {
          description: [...codes].map((c) => `\`${c}\``).join(', '),
          ...(ERROR_HEADERS[status] ? { headers: responseHeaders(ERROR_HEADERS[status]) } : {}),
          content: { 'application/json': { schema: { allOf: [errorBody], properties: { code: { enum: [...codes] } } } } },
        },
      ]),
  );
}

/** The answers' schemas by name (all of them: this module is a chunk of its own, loaded on the first request for the document). */
const answers: Readonly<Record<SchemaName, z.ZodMiniType>> = bodies;
const named = (schema: SchemaName | z.ZodMiniType): z.ZodMiniType => (typeof schema === 'string' ? answers[schema] : schema);

/** A schema written out in place (parameters, headers, a body no module exports by name). */
function inline(schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io }) as JsonSchema;
  return json;
}

/**
 * Named bodies, each a component of the document written once and referred to wherever it is
 * used: answers by their names in contract/responses.ts, request bodies by their export names in
 * schemas.ts. Any other schema is written out in place.
 */
class ComponentSchemas {
  private readonly requestNames = nameIndex(requests);
  private readonly used = { input: z.registry<{ id: string }>(), output: z.registry<{ id: string }>() };

  input(schema: z.ZodMiniType): JsonSchema {
    const name = this.requestNames.get(schema);
    return name ? this.refer(schema, name, 'input') : inline(schema, 'input');
  }

  output(body: SchemaName | z.ZodMiniType): JsonSchema {
    return typeof body === 'string' ? this.refer(answers[body], body, 'output') : inline(body, 'output');
  }

  emit(): Record<string, JsonSchema> {
    const emitted: Record<string, JsonSchema> = {};
    for (const io of ['input', 'output'] as const) {
      const { schemas } = z.toJSONSchema(this.used[io], { io, uri: ref }) as { schemas: Record<string, JsonSchema> };
      for (const [name, { $schema: _, $id: __, ...json }] of Object.entries(schemas)) {
        if (name in emitted) throw new Error(`two components named ${name}`);
        emitted[name] = json;
      }
    }
    return emitted;
  }

  private refer(schema: z.ZodMiniType, name: string, io: 'input' | 'output'): JsonSchema {
    if (!this.used[io].has(schema)) this.used[io].add(schema, { id: name });
    return { $ref: ref(name) };
  }
}

const ref = (name: string) => `#/components/schemas/${name}`;

/** The zod schemas a module exports, by their export names. */
function nameIndex(module: object): Map<z.ZodMiniType, string> {
  const index = new Map<z.ZodMiniType, string>();
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === 'object' && value !== null && '_zod' in value && !index.has(value as z.ZodMiniType)) index.set(value as z.ZodMiniType, name);
  }
  return index;
}
