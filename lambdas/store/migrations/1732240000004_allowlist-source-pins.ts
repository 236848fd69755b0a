import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §4: an allowlist entry may pin where its plugin comes from, one origin (`github://acme/lint`)
 * or an owner prefix (`github://acme/*`). The functions let the cleanup judge installed rows by
 * their recorded source in the query that picks them; `plugin_origin` mirrors `originOf`
 * (lambdas/plugins/origin.ts), and a test holds the two to the same answers.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    ALTER TABLE org_plugin_allowlist ADD COLUMN source text;

    CREATE FUNCTION plugin_origin(source text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
      WITH parsed AS (
        SELECT CASE WHEN m IS NULL THEN 'local' ELSE lower(m[1]) END AS scheme,
               CASE WHEN m IS NULL THEN source ELSE substr(source, length(m[1]) + 4) END AS spec
        FROM (SELECT regexp_match(source, '^([a-zA-Z][a-zA-Z0-9+.-]*)://') AS m) s
      ), unversioned AS (
        SELECT scheme, regexp_replace(split_part(spec, '#', 1), '@[^@]*$', '') AS path FROM parsed
      )
      SELECT scheme || '://' || CASE WHEN scheme = 'github' THEN lower(path) ELSE path END FROM unversioned
    $fn$;

    -- An owner prefix matches one path segment under the owner: github://acme/* is not github://acme-evil/x.
    CREATE FUNCTION origin_matches(pattern text, origin text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
      SELECT CASE WHEN right(pattern, 2) = '/*'
        THEN length(origin) > length(pattern) - 1
          AND left(origin, length(pattern) - 1) = left(pattern, -1)
          AND strpos(substr(origin, length(pattern)), '/') = 0
        ELSE pattern = origin END
    $fn$;
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP FUNCTION origin_matches(text, text);
    DROP FUNCTION plugin_origin(text);
    ALTER TABLE org_plugin_allowlist DROP COLUMN source;
  `);
}
